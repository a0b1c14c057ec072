package overlay

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/template"

	"github.com/promote-ml/promote/promote"
)

//go:embed all:scaffold
var scaffoldFS embed.FS

// ScaffoldEnvironments are the environments Scaffold writes, in pipeline
// order.
var ScaffoldEnvironments = []string{"dev", "staging", "prod"}

// Defaults of ScaffoldOptions.
const (
	DefaultName        = "credit-risk"
	DefaultModelImage  = "registry.example.com/models/credit-risk"
	DefaultServerImage = "ghcr.io/promote-ml/model-server@sha256:feb0eba0cfb01eed42cd21dc496f567013aee061dddde3c8ad14b97ac1d042a6"
)

// DefaultPin is the version every overlay of a scaffold starts pinned at,
// until the first promotion rewrites it: version 1 of credit-risk, whose
// artifact is the README's examples/model.bin.
var DefaultPin = Pin{
	Model:   "credit-risk",
	Version: "1",
	URI:     "s3://ml-models/credit-risk/1/model.bin",
	Digest:  "sha256:0ac0a2899cf5d92667ac3ba688eca2d686bd542c8e072eb33648d8fa79f60b29",
}

// ScaffoldOptions configures Scaffold. The zero value scaffolds the default
// repository.
type ScaffoldOptions struct {
	// Force overwrites files that exist already.
	Force bool
	// Name is the pipeline's name (DefaultName when empty).
	Name string
	// Pin is the model the deployment serves and the version every overlay
	// starts pinned at (DefaultPin when zero). The model's name must be a
	// DNS label (ValidateModelName).
	Pin Pin
	// ModelImage is the repository of the model's OCI image, without tag or
	// digest; its last path element must be the model's name, which is how
	// SetPin finds it (DefaultModelImage, or the default's registry path
	// with Pin.Model, when empty).
	ModelImage string
	// ServerImage is the model server's image, pinned by digest, the same in
	// every environment (DefaultServerImage when empty).
	ServerImage string
}

func (o *ScaffoldOptions) defaults() error {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if err := promote.ValidateName("pipeline name", o.Name); err != nil {
		return err
	}
	if o.Pin == (Pin{}) {
		o.Pin = DefaultPin
	}
	if err := o.Pin.Validate(); err != nil {
		return err
	}
	if err := ValidateModelName(o.Pin.Model); err != nil {
		return err
	}
	if o.ModelImage == "" {
		o.ModelImage = path.Dir(DefaultModelImage) + "/" + o.Pin.Model
	}
	if imageRepo(o.ModelImage) != o.ModelImage || path.Base(o.ModelImage) != o.Pin.Model {
		return promote.Errorf(promote.Invalid, "model image %q: want a repository without tag or digest whose last element is the model's name %q", o.ModelImage, o.Pin.Model)
	}
	if o.ServerImage == "" {
		o.ServerImage = DefaultServerImage
	}
	if err := ValidateDigest(imageDigest(o.ServerImage)); err != nil {
		return promote.Errorf(promote.Invalid, "server image %q: pin it by digest (IMAGE@sha256:...) so every environment runs the same one", o.ServerImage)
	}
	for _, img := range []struct{ what, ref string }{{"model image", o.ModelImage}, {"server image", o.ServerImage}} {
		// The reference is written into YAML as a plain scalar.
		if strings.ContainsAny(img.ref, " \t\r\n#\"'{}[],&*!|>%`") {
			return promote.Errorf(promote.Invalid, "%s %q contains a character that is not allowed in an image reference", img.what, img.ref)
		}
	}
	return nil
}

// scaffoldData is what the templates see.
type scaffoldData struct {
	ScaffoldOptions
	Env string
	// Workload names the model's Deployment and Service: FirstWorkload for
	// the model a scaffold starts with, WorkloadPrefix+<model> for one that
	// AddModel adds.
	Workload string
}

// FirstWorkload is the name of the Deployment and Service of the model a
// scaffold starts with.
const FirstWorkload = "model-server"

// Scaffold writes a working repository into dir (created if needed) and
// returns the files it wrote, slash-separated and relative to dir, in
// lexical order: promote.yaml (dev -> staging -> prod), policies/ (dev
// light, staging production-like, prod strict: the seed's Exercise 1; each
// with a *_test.yaml of cases that promote policy test runs, and under
// policies/testdata an artifact signed with a key for those tests only),
// deploy/base, deploy/components/values and deploy/overlays/{dev,staging,
// prod}, every overlay pinned at opts.Pin. It refuses to overwrite an
// existing file, naming every one, unless opts.Force is set; it writes
// nothing then.
func Scaffold(dir string, opts ScaffoldOptions) ([]string, error) {
	if err := opts.defaults(); err != nil {
		return nil, err
	}
	files, err := scaffoldFiles(opts)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	if !opts.Force {
		var exist []string
		for _, name := range names {
			if _, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(name))); err == nil {
				exist = append(exist, name)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("scaffold: %w", err)
			}
		}
		if len(exist) > 0 {
			return nil, promote.Errorf(promote.Conflict, "%s already has %s; use --force to overwrite", dir, strings.Join(exist, ", "))
		}
	}
	for _, name := range names {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("scaffold: %w", err)
		}
		if err := writeNew(p, files[name], opts.Force); err != nil {
			return nil, fmt.Errorf("scaffold: %w", err)
		}
	}
	return names, nil
}

// writeNew writes a file; without overwrite it never replaces one, even one
// created since Scaffold looked.
func writeNew(p string, data []byte, overwrite bool) error {
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if overwrite {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(p, flags, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	return firstErr(err, f.Close())
}

// execTemplate renders the template file name of fsys with data; a key
// data lacks is an error.
func execTemplate(fsys fs.FS, name string, data scaffoldData) ([]byte, error) {
	src, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	tmpl, err := template.New(name).Option("missingkey=error").Parse(string(src))
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, data); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// scaffoldFiles renders every file of the scaffold: the embedded templates,
// the ones under an ENV directory once for each environment, and each
// overlay's model config.
func scaffoldFiles(opts ScaffoldOptions) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := fs.WalkDir(scaffoldFS, "scaffold", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		out := strings.TrimSuffix(strings.TrimPrefix(name, "scaffold/"), ".tmpl")
		envs := []string{""}
		if strings.Contains(out, "/ENV/") {
			envs = ScaffoldEnvironments
		}
		for _, env := range envs {
			text, err := execTemplate(scaffoldFS, name, scaffoldData{ScaffoldOptions: opts, Env: env, Workload: FirstWorkload})
			if err != nil {
				return err
			}
			files[strings.Replace(out, "/ENV/", "/"+env+"/", 1)] = text
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scaffold templates: %w", err)
	}
	for _, env := range ScaffoldEnvironments {
		files[OverlayPath(env)+"/"+modelFile(opts.Pin.Model)] = editModelConfig(nil, opts.Pin, env)
	}
	return files, nil
}
