package telemetry

import (
	"bytes"
	"errors"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

// RegisterRuntime registers the Go runtime's and the process's metrics on
// r under the names the Prometheus Go client gives them, so that the usual
// dashboards and alerts work:
//
//	go_goroutines, go_threads, go_info{version}, go_sched_gomaxprocs_threads,
//	go_memstats_alloc_bytes, go_memstats_heap_objects, go_memstats_sys_bytes,
//	go_memstats_next_gc_bytes, go_memstats_last_gc_time_seconds,
//	go_gc_cycles_total,
//	process_cpu_seconds_total, process_resident_memory_bytes,
//	process_virtual_memory_bytes, process_start_time_seconds,
//	process_open_fds, process_max_fds
//
// The process_ metrics read /proc and are left out where there is none
// (macOS, Windows).
//
// The memory figures come from one runtime.ReadMemStats per gathering,
// which stops the world for microseconds; scrape intervals make that
// negligible.
func RegisterRuntime(r *Registry) error {
	var ms memStats
	info, err := r.Gauge("go_info", "Information about the Go environment.", "version")
	if err != nil {
		return err
	}
	info.With(runtime.Version()).Set(1)
	errs := []error{
		r.GaugeFunc("go_goroutines", "Number of goroutines that currently exist.", func() float64 { return float64(runtime.NumGoroutine()) }),
		r.GaugeFunc("go_threads", "Number of OS threads created.", func() float64 {
			n, _ := runtime.ThreadCreateProfile(nil)
			return float64(n)
		}),
		r.GaugeFunc("go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting.", func() float64 { return float64(runtime.GOMAXPROCS(0)) }),
		r.GaugeFunc("go_memstats_alloc_bytes", "Number of bytes allocated in heap objects and still in use.", func() float64 { return float64(ms.read().HeapAlloc) }),
		r.GaugeFunc("go_memstats_heap_objects", "Number of currently allocated heap objects.", func() float64 { return float64(ms.read().HeapObjects) }),
		r.GaugeFunc("go_memstats_sys_bytes", "Number of bytes obtained from the system.", func() float64 { return float64(ms.read().Sys) }),
		r.GaugeFunc("go_memstats_next_gc_bytes", "Heap size at which the next garbage collection cycle ends.", func() float64 { return float64(ms.read().NextGC) }),
		r.GaugeFunc("go_memstats_last_gc_time_seconds", "Time the last garbage collection finished, in seconds since the epoch.", func() float64 {
			return float64(ms.read().LastGC) / 1e9
		}),
		r.CounterFunc("go_gc_cycles_total", "Completed garbage collection cycles.", func() float64 { return float64(ms.read().NumGC) }),
	}
	if _, err := readProcStat(); err == nil {
		// stat reads one figure of /proc/self/stat at each gathering.
		stat := func(pick func(procStat) float64) func() float64 {
			return func() float64 {
				st, _ := readProcStat()
				return pick(st)
			}
		}
		errs = append(errs,
			r.CounterFunc("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
				stat(func(st procStat) float64 { return st.cpuSeconds })),
			r.GaugeFunc("process_resident_memory_bytes", "Resident memory size in bytes.",
				stat(func(st procStat) float64 { return st.residentBytes })),
			r.GaugeFunc("process_virtual_memory_bytes", "Virtual memory size in bytes.",
				stat(func(st procStat) float64 { return st.virtualBytes })),
			r.GaugeFunc("process_start_time_seconds", "Start time of the process since the Unix epoch in seconds.",
				stat(func(st procStat) float64 { return st.startSeconds })),
			r.GaugeFunc("process_open_fds", "Number of open file descriptors.", func() float64 {
				entries, err := os.ReadDir("/proc/self/fd")
				if err != nil {
					return 0
				}
				return float64(len(entries))
			}),
			r.GaugeFunc("process_max_fds", "Maximum number of open file descriptors.", maxFDs),
		)
	}
	return errors.Join(errs...)
}

// memStats shares one runtime.ReadMemStats among the metrics read in the
// same gathering (within a second of each other).
type memStats struct {
	mu   sync.Mutex
	at   time.Time
	last runtime.MemStats
}

func (m *memStats) read() *runtime.MemStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	if now := time.Now(); now.Sub(m.at) > time.Second {
		runtime.ReadMemStats(&m.last)
		m.at = now
	}
	return &m.last
}

// userHZ is the unit of /proc's CPU times: USER_HZ, 100 on every Linux
// architecture Go supports (as the Prometheus client assumes too).
const userHZ = 100

// procStat holds what the process metrics read from /proc/self/stat.
type procStat struct {
	cpuSeconds, residentBytes, virtualBytes, startSeconds float64
}

// readProcStat reads /proc/self/stat (proc(5)) and the boot time from
// /proc/stat.
func readProcStat() (procStat, error) {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) is in parentheses and may hold spaces:
	// the fields that follow start after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, errors.New("/proc/self/stat: no ')' after the command name")
	}
	f := bytes.Fields(data[i+1:])
	// f[0] is field 3 (state): field n is f[n-3].
	if len(f) < 22 {
		return procStat{}, errors.New("/proc/self/stat: too few fields")
	}
	num := func(n int) float64 {
		v, _ := strconv.ParseFloat(string(f[n-3]), 64)
		return v
	}
	boot, err := bootTime()
	if err != nil {
		return procStat{}, err
	}
	return procStat{
		cpuSeconds:    (num(14) + num(15)) / userHZ,
		virtualBytes:  num(23),
		residentBytes: num(24) * float64(os.Getpagesize()),
		startSeconds:  boot + num(22)/userHZ,
	}, nil
}

// bootTime reads the system's boot time, in seconds since the epoch, from
// /proc/stat's btime line.
var bootTime = sync.OnceValues(func() (float64, error) {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	for line := range bytes.SplitSeq(data, []byte{'\n'}) {
		if rest, ok := bytes.CutPrefix(line, []byte("btime ")); ok {
			return strconv.ParseFloat(string(bytes.TrimSpace(rest)), 64)
		}
	}
	return 0, errors.New("/proc/stat: no btime line")
})
