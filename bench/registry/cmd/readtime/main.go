// Command readtime times read requests to running Promote servers, side by
// side: each path of -paths (one a line; {model}, {promotion} and
// {rollout} are filled in from the first server's store) is requested -n
// times from each server in turn, with an API token for /api/
// paths and a web UI session signed in with it for /ui/ paths, and the
// median and the slowest time per request are printed, with the size of
// the answer. The scale benchmark (bench/registry/scale.sh) runs it on a
// small and a large store.
//
//	readtime -paths paths.txt -n 20 small=http://127.0.0.1:8081,$TOKEN1 large=http://127.0.0.1:8082,$TOKEN2
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"
)

type server struct {
	name, url, token string
	client           *http.Client
}

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "readtime:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fl := flag.NewFlagSet("readtime", flag.ContinueOnError)
	pathsFile := fl.String("paths", "", "`FILE` of paths to time, one a line")
	n := fl.Int("n", 20, "requests per path and server")
	model := fl.String("model", "model-00001", "the model {model} stands for")
	if err := fl.Parse(args); err != nil {
		return err
	}
	if *pathsFile == "" || fl.NArg() == 0 || *n < 1 {
		return errors.New("usage: readtime -paths FILE [-n N] NAME=URL,TOKEN...")
	}
	data, err := os.ReadFile(*pathsFile)
	if err != nil {
		return err
	}
	var servers []*server
	for _, a := range fl.Args() {
		name, rest, ok1 := strings.Cut(a, "=")
		u, token, ok2 := strings.Cut(rest, ",")
		if !ok1 || !ok2 {
			return fmt.Errorf("server %q: want NAME=URL,TOKEN", a)
		}
		jar, _ := cookiejar.New(nil)
		s := &server{name: name, url: u, token: token, client: &http.Client{Jar: jar, Timeout: 5 * time.Minute}}
		if err := s.signIn(ctx); err != nil {
			return fmt.Errorf("%s: sign in: %w", name, err)
		}
		servers = append(servers, s)
	}
	// IDs from each server's own store.
	fill := map[*server]map[string]string{}
	for _, s := range servers {
		f := map[string]string{"{model}": *model}
		for key, path := range map[string]string{
			"{promotion}": "/api/v1/promotions?model=" + *model + "&environment=prod&limit=1",
			"{rollout}":   "/api/v1/rollouts?model=" + *model + "&limit=1",
		} {
			body, _, err := s.get(ctx, path)
			if err != nil {
				return fmt.Errorf("%s: %s: %w", s.name, path, err)
			}
			m := regexp.MustCompile(`"(?:id|promotion_id)":\s*"(pr_[0-9a-f]+)"`).FindSubmatch(body)
			if m == nil {
				return fmt.Errorf("%s: %s: no promotion ID in %.200s", s.name, path, body)
			}
			f[key] = string(m[1])
		}
		fill[s] = f
	}
	fmt.Printf("%-58s", "path (median / slowest of "+fmt.Sprint(*n)+")")
	for _, s := range servers {
		fmt.Printf(" %28s", s.name)
	}
	fmt.Println()
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fmt.Printf("%-58s", line)
		for _, s := range servers {
			path := line
			for k, v := range fill[s] {
				path = strings.ReplaceAll(path, k, v)
			}
			var times []time.Duration
			size := 0
			for range *n {
				t := time.Now()
				body, code, err := s.get(ctx, path)
				d := time.Since(t)
				if err != nil {
					return fmt.Errorf("%s: %s: %w", s.name, path, err)
				}
				if code != http.StatusOK {
					return fmt.Errorf("%s: %s: %d %.300s", s.name, path, code, body)
				}
				times = append(times, d)
				size = len(body)
			}
			slices.Sort(times)
			fmt.Printf(" %9s /%9s %7s", ms(times[len(times)/2]), ms(times[len(times)-1]), kb(size))
		}
		fmt.Println()
	}
	return sc.Err()
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/1e6) }

func kb(n int) string {
	if n < 10000 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%dkB", n/1000)
}

// get requests path with the token (API) or the session (UI).
func (s *server) get(ctx context.Context, path string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url+path, nil)
	if err != nil {
		return nil, 0, err
	}
	if !strings.HasPrefix(path, "/ui/") {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return body, resp.StatusCode, err
}

// signIn signs in to the web UI with the token, as a person does.
func (s *server) signIn(ctx context.Context) error {
	body, _, err := s.get(ctx, "/ui/login")
	if err != nil {
		return err
	}
	m := regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`).FindSubmatch(body)
	if m == nil {
		return errors.New("no form token on the sign-in page")
	}
	form := url.Values{"csrf": {string(m[1])}, "token": {s.token}, "next": {"/ui/"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/ui/login", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", s.url)
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("sign in: %s", resp.Status)
	}
	return nil
}
