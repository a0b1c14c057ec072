//go:build unix

package registry_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/promote-ml/promote/internal/registry"
	"github.com/promote-ml/promote/internal/registrytest"
	"github.com/promote-ml/promote/promote"
)

// TestArtifactHashedOnlyWhenAFileThatEnds: the server hashes a regular
// file under its artifact roots, and nothing else. A device such as
// /dev/zero (under a root of /, the working directory of many a service)
// never ends, and a named pipe blocks its opening: each request for one
// kept a core hashing, or a goroutine stuck, for good, past the request's
// timeout. They are refused at once, naming what they are; and the
// hashing of a file stops when the request's context ends.
func TestArtifactHashedOnlyWhenAFileThatEnds(t *testing.T) {
	root := t.TempDir()
	fifo := filepath.Join(root, "model.pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	// A sparse file of a terabyte reads as zeros at the speed of memory:
	// hours of hashing.
	huge := filepath.Join(root, "huge.bin")
	if err := os.WriteFile(huge, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(huge, 1<<40); err != nil {
		t.Skipf("no sparse files here: %v", err)
	}
	roots := []string{root}
	if _, err := os.Stat("/dev/zero"); err == nil {
		roots = append(roots, "/dev")
	}
	svc := artifactService(t, roots...)
	register := func(t *testing.T, ctx context.Context, version, path string) error {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			_, err := svc.RegisterVersion(ctx, submitter, registry.RegisterRequest{Model: "credit-risk", Version: version, ArtifactURI: "file://" + path})
			done <- err
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			t.Fatalf("registering %s had not returned after 20s", path)
			return nil
		}
	}
	tests := []struct{ name, path, want string }{
		{"named pipe", fifo, "is not a regular file (a named pipe)"},
		{"directory", root, "is not a regular file (a directory)"},
	}
	if len(roots) > 1 {
		tests = append(tests, struct{ name, path, want string }{"device", "/dev/zero", "is not a regular file (a device)"})
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := register(t, t.Context(), string(rune('1'+i)), tt.path)
			if promote.ErrorCode(err) != promote.Invalid || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("register %s = %v, want Invalid: %s", tt.path, err, tt.want)
			}
		})
	}
	t.Run("request ends while hashing", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		start := time.Now()
		err := register(t, ctx, "9", huge)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("register %s with a deadline of 500ms = %v, want the deadline's error", huge, err)
		}
		if took := time.Since(start); took > 10*time.Second {
			t.Errorf("register %s returned %s after its deadline; want it to stop hashing then", huge, took)
		}
	})
	versions, err := svc.Versions(t.Context(), promote.VersionFilter{Model: "credit-risk"})
	if err != nil || len(versions) != 0 {
		t.Errorf("refused registrations stored %d versions (%v), want none", len(versions), err)
	}
}

// TestArtifactSwappedForAPipeIsNotOpenedBlocking: the file checked is the
// file read. An artifact replaced by a named pipe between the check that
// it is a regular file and its opening (a submitter who may write under
// an artifact root swaps them over and over) must not block the opening:
// each registration ends, either hashing the file or refusing the pipe.
func TestArtifactSwappedForAPipeIsNotOpenedBlocking(t *testing.T) {
	root := t.TempDir()
	path := filepath.Join(root, "model.bin")
	if err := os.WriteFile(path, []byte("weights"), 0o600); err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(root, "probe.pipe")
	if err := syscall.Mkfifo(probe, 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	svc := artifactService(t, root)

	// The swapper puts a pipe and a regular file at path by turns, each
	// made aside and renamed over it, until the test ends.
	stop := make(chan struct{})
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		pipe, file := filepath.Join(root, "next.pipe"), filepath.Join(root, "next.bin")
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			var err error
			if i%2 == 0 {
				if err = syscall.Mkfifo(pipe, 0o600); err == nil {
					err = os.Rename(pipe, path)
				}
			} else if err = os.WriteFile(file, []byte("weights"), 0o600); err == nil {
				err = os.Rename(file, path)
			}
			if err != nil {
				t.Errorf("swap: %v", err)
				return
			}
		}
	}()

	var hashed, refused int
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		done := make(chan error, 1)
		go func() {
			_, err := svc.RegisterVersion(t.Context(), submitter, registry.RegisterRequest{Model: "credit-risk", Version: fmt.Sprint(i), ArtifactURI: "file://" + path})
			done <- err
		}()
		select {
		case err := <-done:
			switch {
			case err == nil:
				hashed++
			case promote.ErrorCode(err) == promote.Invalid && (strings.Contains(err.Error(), "is not a regular file (a named pipe)") || strings.Contains(err.Error(), "replaced while it was being opened")):
				refused++
			default:
				close(stop)
				<-swapped
				t.Fatalf("register %s (attempt %d) = %v, want it hashed or refused as a named pipe", path, i, err)
			}
		case <-time.After(10 * time.Second):
			// The registration is stuck opening a pipe no one writes:
			// the test cannot take it back, and fails.
			close(stop)
			<-swapped
			t.Fatalf("registering %s (attempt %d) had not returned after 10s: its opening blocks on a named pipe", path, i)
		}
	}
	close(stop)
	<-swapped
	if hashed == 0 || refused == 0 {
		t.Errorf("%d registrations hashed the file and %d refused a pipe; want some of each, as the swapper alternates them", hashed, refused)
	}
}

// TestArtifactDirectorySwappedForALinkIsNotFollowed: the file hashed lies
// beneath the artifact root, even when a directory on its path is
// swapped for a symbolic link to a directory outside the root between the
// check of the path and its opening (a submitter who may write under an
// artifact root swaps them over and over): a registration hashes the file
// inside the root or is refused, and never hashes the one outside.
func TestArtifactDirectorySwappedForALinkIsNotFollowed(t *testing.T) {
	root, outside := t.TempDir(), t.TempDir()
	models := filepath.Join(root, "models")
	for dir, content := range map[string]string{models: "weights", outside: "secret"} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "model.bin"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	secret := fmt.Sprintf("sha256:%x", sha256.Sum256([]byte("secret")))
	svc := artifactService(t, root)

	// The swapper puts the directory and a link out of the root at models
	// by turns, until the test ends.
	stop := make(chan struct{})
	swapped := make(chan struct{})
	go func() {
		defer close(swapped)
		aside, link := filepath.Join(root, "aside"), filepath.Join(root, "link")
		if err := os.Symlink(outside, link); err != nil {
			t.Errorf("swap: %v", err)
			return
		}
		for {
			select {
			case <-stop:
				return
			default:
			}
			err := os.Rename(models, aside)
			if err == nil {
				err = os.Rename(link, models)
			}
			if err == nil {
				err = os.Rename(models, link)
			}
			if err == nil {
				err = os.Rename(aside, models)
			}
			if err != nil {
				t.Errorf("swap: %v", err)
				return
			}
		}
	}()

	path := filepath.Join(models, "model.bin")
	var hashed int
	deadline := time.Now().Add(3 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		v, err := svc.RegisterVersion(t.Context(), submitter, registry.RegisterRequest{Model: "credit-risk", Version: fmt.Sprint(i), ArtifactURI: "file://" + path})
		if err == nil && v.Digest == secret {
			close(stop)
			<-swapped
			t.Fatalf("register %s (attempt %d) hashed the file outside the artifact root, %s", path, i, outside)
		}
		if err == nil {
			hashed++
		}
	}
	close(stop)
	<-swapped
	if hashed == 0 {
		t.Errorf("no registration of %s hashed the file inside the root; want some, as the swapper puts it back by turns", path)
	}
}

// artifactService returns a service over a new SQLite store that reads
// artifacts under roots, with the model credit-risk.
func artifactService(t *testing.T, roots ...string) *registry.Service {
	t.Helper()
	svc := registrytest.Load(t, pipelineYAML, policyYAML).New(t, registrytest.SQLite(t, t.TempDir()),
		registry.Config{ArtifactRoots: roots})
	if _, err := svc.CreateModel(t.Context(), submitter, "credit-risk", ""); err != nil {
		t.Fatal(err)
	}
	return svc
}
