package cli

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// lockFileName is the file in a SQLite data directory that promote serve
// holds locked while it runs.
const lockFileName = "serve.lock"

// lockDataDir takes the data directory for this server: an exclusive,
// non-blocking lock (lockFile) on dir/serve.lock, which holds the server's process
// ID. A second server on the same directory would share the SQLite
// database, the GitOps clone and the agent's clone with the first and
// corrupt their state, so it is refused with the first one's process ID.
// The lock goes with the process, even one killed with SIGKILL; the
// returned function releases it earlier.
//
// It may outlive the process by a moment, though: a child the server was
// starting (go-git runs git-upload-pack and git-receive-pack for a local
// remote) shares the lock from its fork until its exec closes the file,
// and a server killed in between leaves the lock to it. So a lock held
// while the process ID in the file is gone is waited for, up to
// lockGrace, before the directory is refused. One whose holder runs is
// waited for up to lockBusyGrace only: a server killed a moment ago still
// runs, its lock held, until the kernel has torn it down, and a restart
// at once (a script's kill -9, then promote serve) met it in 8 of 60
// restarts.
func lockDataDir(dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("data directory %s: %w", dir, err)
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock the data directory %s: %w", dir, err)
	}
	if err := flockWaitingForTheDead(f, path); err != nil {
		f.Close()
		if errors.Is(err, errLockHeld) {
			return nil, &dataDirInUseError{dir: dir, holder: lockHolder(path), path: path}
		}
		return nil, fmt.Errorf("lock the data directory %s: %w", dir, err)
	}
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		unlockFile(f)
		f.Close()
	}, nil
}

// dataDirInUseError is lockDataDir's refusal of a data directory whose
// lock another process holds; its message is the one serve shows, and
// other commands that take the lock say what fits them (errors.As).
type dataDirInUseError struct {
	dir, holder, path string
}

func (e *dataDirInUseError) Error() string {
	return fmt.Sprintf("the data directory %s is in use by another promote serve (%s holds %s): one server per SQLite data directory; stop it, or give this one another --data (several replicas need PostgreSQL, --database)",
		e.dir, e.holder, e.path)
}

// lockGrace bounds how long lockDataDir waits for a lock whose holder, as
// the file names it, is gone.
var lockGrace = 5 * time.Second

// lockBusyGrace bounds how long lockDataDir waits for a lock whose holder,
// as the file names it, runs: long enough for a killed process to finish
// exiting, short enough that a second server is refused at once to a
// person.
var lockBusyGrace = time.Second

// flockWaitingForTheDead takes an exclusive lock on f without blocking;
// while another holds it (errLockHeld), it tries again for up to lockGrace when the
// process whose ID is in path has exited, and up to lockBusyGrace when it
// runs.
func flockWaitingForTheDead(f *os.File, path string) error {
	start := time.Now()
	for {
		err := lockFile(f, true)
		if !errors.Is(err, errLockHeld) {
			return err
		}
		grace := lockGrace
		if holderRuns(path) {
			grace = lockBusyGrace
		}
		if time.Since(start) > grace {
			return err
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// holderRuns reports whether the process whose ID is in path runs; a file
// without one counts as running, so the lock is refused as it was.
func holderRuns(path string) bool {
	raw, err := os.ReadFile(path)
	if err != nil {
		return true
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return true
	}
	return processRuns(pid)
}

// lockHolder names the process whose ID is in the lock file at path.
func lockHolder(path string) string {
	raw, _ := os.ReadFile(path)
	if pid, err := strconv.Atoi(strings.TrimSpace(string(raw))); err == nil && pid > 0 {
		return fmt.Sprintf("process %d", pid)
	}
	return "another process"
}

// servedBy reports whether a promote serve holds the lock of the data
// directory dir now, and names it. It takes no lock that lasts: a local
// command asks it, which works beside the server.
func servedBy(dir string) (holder string, ok bool) {
	path := filepath.Join(dir, lockFileName)
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close() // releases the shared lock, when it was taken
	if err := lockFile(f, false); !errors.Is(err, errLockHeld) {
		return "", false
	}
	return lockHolder(path), true
}

// errLockHeld is lockFile's error when another open file holds a lock
// that conflicts with the one asked for.
var errLockHeld = errors.New("locked by another process")
