// Command load drives a running tsskit stack's account REST API: N account
// keygens at once, then M signs spread over the new accounts, a few at a
// time. It measures each request, checks every result independently (each
// signature with decred's secp256k1 ECDSA against the account's public key)
// and reports throughput, p50/p99 latency and errors, which must be 0: it
// exits 1 otherwise.
//
// scripts/load.sh starts `tsskit dev` on each backend and runs this
// program against it (make load); docs/load.md describes both.
//
//	go run ./scripts/load -api http://127.0.0.1:4000 -keygens 20 -signs 50
//
// With -stack-log (the stack's log, TSSKIT_LOG_FORMAT=json) and -pool, it
// first waits until every server party's pre-params pool holds -pool sets,
// and again between the phases until the pools are refilled, so neither
// phase is timed while the parties search safe primes in the background.
//
// Helper modes for scripts/load.sh, one at a time:
//
//	-free-ports n        print n free loopback TCP ports, one a line
//	-create-schema URL   create schema load_<random> in the PostgreSQL
//	                     database at URL and print URL with its search_path
//	-drop-schema URL     drop the load_* schema named by URL's search_path
//	-combine OUT.md      write one Markdown report from the JSON reports
//	                     given as arguments
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"github.com/jackc/pgx/v5"
	"golang.org/x/crypto/sha3"
)

const envAPIKey = "MPC_API_KEY"

type config struct {
	api, apiKey, partyAPI string
	keygens, signs        int
	keygenConc, signConc  int
	sequential, burst     int
	sequentialAfter       int
	burstSigns            int
	burstX                float64
	apiDeadline           time.Duration
	criteria              bool
	timeout, reqTimeout   time.Duration
	readyTimeout          time.Duration
	jsonOut, mdOut, label string
	stackLog              string
	stackPID              int
	pool, parties         int
	settle                bool
	speedProbe            bool
	settleTimeout         time.Duration
}

func main() {
	os.Exit(run())
}

func run() int {
	var c config
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.StringVar(&c.api, "api", "http://127.0.0.1:4000", "account REST API base URL")
	fs.StringVar(&c.apiKey, "api-key", "", "X-API-Key (default: $"+envAPIKey+")")
	fs.IntVar(&c.keygens, "keygens", 20, "account keygens, all started at once (see -keygen-concurrency)")
	fs.IntVar(&c.signs, "signs", 50, "signs, spread round-robin over the accounts made")
	fs.IntVar(&c.keygenConc, "keygen-concurrency", 0, "keygens in flight at once (0: all of them)")
	fs.IntVar(&c.signConc, "sign-concurrency", 10, "signs in flight at once")
	fs.IntVar(&c.sequential, "sequential", 0, "first, this many keygens one at a time: the unloaded throughput the burst's goodput is compared with")
	fs.IntVar(&c.sequentialAfter, "sequential-after", 0, "last, this many keygens one at a time again (after the pools refill, with -pool): the unloaded throughput is both sequential phases', and their drift is reported")
	fs.IntVar(&c.burst, "burst", 0, "last, this many keygens all at once, with -burst-signs signs beside them (0: no burst)")
	fs.IntVar(&c.burstSigns, "burst-signs", 0, "signs issued during the burst, -sign-concurrency at a time")
	fs.Float64Var(&c.burstX, "burst-x", 0, "instead of -burst: a burst of this many times the capacity the sequential phase measured (its throughput × -api-deadline keygens)")
	fs.DurationVar(&c.apiDeadline, "api-deadline", 3*time.Minute, "the account API's deadline for one request (for -burst-x)")
	fs.BoolVar(&c.criteria, "criteria", false, "exit 1 unless the overload criteria hold (docs/load.md): none timed out or failed, every refusal under 1 s, the goodput of the concurrent keygens and of the burst (its signs counted at unloaded cost) at least 0.9 of the unloaded capacity, the burst signs' p99 under 5 s")
	fs.DurationVar(&c.timeout, "timeout", 20*time.Minute, "the whole run, waits included")
	fs.DurationVar(&c.reqTimeout, "request-timeout", 5*time.Minute, "one HTTP request (the API's own deadline is 3m)")
	fs.DurationVar(&c.readyTimeout, "ready-timeout", 2*time.Minute, "wait this long for /health to report the server parties")
	fs.StringVar(&c.jsonOut, "json", "", "write the report as JSON to this file")
	fs.StringVar(&c.mdOut, "md", "", "write the report as Markdown to this file")
	fs.StringVar(&c.label, "label", "dev", `backend label in the report (e.g. "embedded", "postgres+redis")`)
	fs.StringVar(&c.partyAPI, "party-api", "", "server-party API base URL: its /health gives one party's live pre-params count (optional)")
	fs.StringVar(&c.stackLog, "stack-log", "", "the stack's log file (TSSKIT_LOG_FORMAT=json): pre-params pool levels come from it")
	fs.IntVar(&c.stackPID, "stack-pid", 0, "the stack's process id: give up at once if it exits")
	fs.IntVar(&c.pool, "pool", 0, "wait until every server party holds this many pre-params (needs -stack-log; 0: do not wait)")
	fs.IntVar(&c.parties, "server-parties", 3, "server parties the stack runs")
	fs.BoolVar(&c.speedProbe, "speed-probe", true, "gauge the machine's speed through the run (a timed 2048-bit exponentiation every 250 ms, in thread CPU time) and take each phase at the run's mean speed in the overload criteria (Linux)")
	fs.BoolVar(&c.settle, "settle", true, "with -pool: wait for the pools to refill between the keygen and sign phases, and before -sequential-after")
	fs.DurationVar(&c.settleTimeout, "settle-timeout", 10*time.Minute, "give up waiting for the refill after this long (the signs then run beside it)")
	freePorts := fs.Int("free-ports", 0, "helper: print this many free loopback ports and exit")
	createSchema := fs.String("create-schema", "", "helper: create a load_* schema in this PostgreSQL database, print the URL that uses it")
	dropSchema := fs.String("drop-schema", "", "helper: drop the load_* schema named by this URL's search_path")
	combine := fs.String("combine", "", "helper: write one Markdown file from the JSON reports given as arguments")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: go run ./scripts/load [flags]\n\nLoad test of a running tsskit account REST API; see docs/load.md.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	helper := func(err error) int {
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			return 1
		}
		return 0
	}
	switch {
	case *freePorts > 0:
		return helper(printFreePorts(*freePorts))
	case *createSchema != "":
		return helper(createPGSchema(*createSchema))
	case *dropSchema != "":
		return helper(dropPGSchema(*dropSchema))
	case *combine != "":
		return helper(combineReports(*combine, fs.Args()))
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "load: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if c.apiKey == "" {
		c.apiKey = os.Getenv(envAPIKey)
	}
	if err := c.check(); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	rep, err := runLoad(ctx, c)
	if rep != nil {
		if werr := writeReports(c, rep); werr != nil {
			fmt.Fprintln(os.Stderr, "load:", werr)
			return 1
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		return 1
	}
	if c.criteria && !rep.CriteriaMet {
		fmt.Fprintln(os.Stderr, "load: the overload criteria do not hold (see the report)")
		return 1
	}
	return 0
}

func (c *config) check() error {
	switch {
	case c.apiKey == "":
		return fmt.Errorf("no API key: set $%s or -api-key", envAPIKey)
	case c.keygens < 1:
		return errors.New("-keygens must be at least 1")
	case c.signs < 0:
		return errors.New("-signs must not be negative")
	case c.keygenConc < 0 || c.signConc < 1:
		return errors.New("-keygen-concurrency must be >= 0 and -sign-concurrency >= 1")
	case c.parties < 2:
		return errors.New("-server-parties must be at least 2")
	case c.sequential < 0 || c.sequentialAfter < 0 || c.burst < 0 || c.burstSigns < 0 || c.burstX < 0:
		return errors.New("-sequential, -sequential-after, -burst, -burst-x and -burst-signs must not be negative")
	case c.burstX > 0 && c.burst > 0:
		return errors.New("give -burst or -burst-x, not both")
	case c.burstX > 0 && c.sequential == 0:
		return errors.New("-burst-x needs -sequential: the capacity comes from the sequential keygens")
	case c.criteria && c.burst == 0 && c.burstX == 0:
		return errors.New("-criteria needs a burst (-burst or -burst-x)")
	case c.burstX > 0 && c.apiDeadline <= 0:
		return errors.New("-api-deadline must be positive")
	case c.pool < 0:
		return errors.New("-pool must not be negative")
	case c.pool > 0 && c.stackLog == "":
		return errors.New("-pool needs -stack-log: the pool levels are read from the stack's log")
	}
	if c.keygenConc == 0 || c.keygenConc > c.keygens {
		c.keygenConc = c.keygens
	}
	c.signConc = min(c.signConc, max(c.signs, c.burstSigns, 1))
	for _, u := range []*string{&c.api, &c.partyAPI} {
		*u = strings.TrimSuffix(*u, "/")
	}
	if _, err := url.ParseRequestURI(c.api); err != nil {
		return fmt.Errorf("-api: %v", err)
	}
	return nil
}

// ---- the report ----

type report struct {
	Label   string    `json:"label"`
	Started time.Time `json:"started"`
	Host    host      `json:"host"`
	Keygens int       `json:"keygens"`
	Signs   int       `json:"signs"`
	Phases  []*phase  `json:"phases"`
	// Goodput of the burst's keygens (completed within their deadline per
	// second) over the sequential throughput (both sequential phases',
	// with -sequential-after).
	GoodputRatio float64 `json:"goodput_ratio,omitempty"`
	// The burst's goodput with its signs counted too, each request at its
	// kind's unloaded cost (burstWork), over 1.
	BurstWorkRatio float64 `json:"burst_work_ratio,omitempty"`
	// With the speed probe: its mean over the run (CPU ms for one
	// exponentiation), at which the criteria take every phase, and the
	// burst's keygen goodput ratio so taken.
	SpeedRefMs          float64 `json:"speed_ref_ms,omitempty"`
	GoodputRatioAtSpeed float64 `json:"goodput_ratio_at_speed,omitempty"`
	// With -sequential-after: the sequential throughput before the
	// concurrent phases, after them, and both together (the reference the
	// ratios use), and the drift after/before - 1: how much the machine's
	// speed moved during the run.
	SequentialBefore float64 `json:"sequential_before_per_s,omitempty"`
	SequentialAfter  float64 `json:"sequential_after_per_s,omitempty"`
	SequentialBoth   float64 `json:"sequential_both_per_s,omitempty"`
	SequentialDrift  float64 `json:"sequential_drift,omitempty"`
	// With -burst-x: the keygens the stack can finish within one API
	// deadline at the sequential throughput, and the burst's multiple of it.
	Capacity int     `json:"capacity,omitempty"`
	BurstX   float64 `json:"burst_x,omitempty"`
	// The overload criteria (docs/load.md), when a burst ran.
	Criteria    []criterion    `json:"criteria,omitempty"`
	CriteriaMet bool           `json:"criteria_met,omitempty"`
	PreParams   *poolReport    `json:"preparams,omitempty"`
	StackLogs   map[string]int `json:"stack_warnings,omitempty"` // WARN/ERROR lines of the stack during the phases, by message
	Errors      int            `json:"errors"`
	OK          bool           `json:"ok"`
}

type host struct {
	CPUs int    `json:"cpus"`
	OS   string `json:"os"`
	Go   string `json:"go"`
}

type phase struct {
	Op          string  `json:"op"`
	Count       int     `json:"count"`
	Concurrency int     `json:"concurrency"`
	OK          int     `json:"ok"`
	Errors      int     `json:"errors"`
	Verified    int     `json:"verified"`
	WallS       float64 `json:"wall_s"`
	Throughput  float64 `json:"throughput_per_s"`
	// Refused: answered 503 "overloaded" (admission control), not errors;
	// TimedOut: 504, among the errors.
	Refused    int     `json:"refused"`
	RefusalP50 float64 `json:"refusal_p50_s,omitempty"`
	RefusalP99 float64 `json:"refusal_p99_s,omitempty"`
	RefusalMax float64 `json:"refusal_max_s,omitempty"`
	TimedOut   int     `json:"timed_out"`
	// CPUPerOK: the stack's CPU-s per completed request (with -stack-pid).
	CPUPerOK float64 `json:"cpu_s_per_ok,omitempty"`
	// ProbeMs: the speed probe's CPU ms for one exponentiation during the
	// phase (harmonic mean of ProbeSamples), larger on a slower machine.
	ProbeMs      float64 `json:"probe_ms,omitempty"`
	ProbeSamples int     `json:"probe_samples,omitempty"`
	// OnDemand: server-party seats in the phase's keygens that made
	// pre-params on the spot, their pool empty (from the stack's log).
	OnDemand   int       `json:"generated_on_demand,omitempty"`
	P50S       float64   `json:"p50_s"`
	P99S       float64   `json:"p99_s"`
	MinS       float64   `json:"min_s"`
	MeanS      float64   `json:"mean_s"`
	MaxS       float64   `json:"max_s"`
	LoadAvg    float64   `json:"load_avg,omitempty"`    // the machine's 1-minute load average at the phase's end (Linux)
	StackCPUS  float64   `json:"stack_cpu_s,omitempty"` // CPU time the stack process used during the phase (Linux, with -stack-pid)
	LatenciesS []float64 `json:"latencies_s"`           // successful requests, in completion order
	Failures   []failure `json:"failures,omitempty"`

	start, end time.Time
}

type failure struct {
	Op      string  `json:"op"`
	Index   int     `json:"index"`
	Account string  `json:"account,omitempty"`
	Kind    string  `json:"kind"` // http, transport, verify
	Status  int     `json:"status,omitempty"`
	Code    string  `json:"code,omitempty"`
	Message string  `json:"message"`
	AfterS  float64 `json:"after_s"`
}

func (f failure) String() string {
	s := fmt.Sprintf("%s #%d", f.Op, f.Index)
	if f.Account != "" {
		s += " (account " + f.Account + ")"
	}
	s += fmt.Sprintf(" failed after %.2f s: %s", f.AfterS, f.Kind)
	if f.Status != 0 {
		s += fmt.Sprintf(" %d", f.Status)
	}
	if f.Code != "" {
		s += " " + f.Code
	}
	return s + ": " + f.Message
}

type poolReport struct {
	Target               int     `json:"target"`
	Parties              int     `json:"parties"`
	FillS                float64 `json:"fill_s"`                   // first server party up → every pool at target (from the stack's log)
	FillWaitS            float64 `json:"fill_wait_s"`              // how long this program waited for it
	OnDemand             int     `json:"generated_on_demand"`      // in the first concurrent keygen phase (each phase's: phase.OnDemand)
	KeygenPhaseGenerated int     `json:"generated_during_keygens"` // sets the parties generated while the keygens ran (the stack refills on every take)
	SettleS              float64 `json:"settle_s,omitempty"`       // pools refilled between the phases, not timed
	SignPhaseGenerated   int     `json:"generated_during_signs"`
}

// ---- the run ----

type account struct {
	id  string
	pub *secp256k1.PublicKey
}

type runner struct {
	c      config
	client *http.Client
	log    *stackLog
	probe  *speedProbe // nil: no speed probe
	runID  string
	outMu  sync.Mutex
	noLive bool // the server-party API refused its details: the log alone counts
}

func runLoad(ctx context.Context, c config) (*report, error) {
	r := &runner{c: c, runID: randomHex(4)}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = max(c.keygenConc, c.signConc) + 2
	r.client = &http.Client{Transport: tr, Timeout: c.reqTimeout}
	if c.stackLog != "" {
		r.log = newStackLog(c.stackLog)
		r.log.setTarget(c.pool, c.parties)
	}
	rep := &report{
		Label: c.label, Started: time.Now().UTC(), Keygens: c.keygens, Signs: c.signs,
		Host: host{CPUs: runtime.NumCPU(), OS: runtime.GOOS + "/" + runtime.GOARCH, Go: runtime.Version()},
	}
	if c.speedProbe {
		pctx, stop := context.WithCancel(ctx)
		defer stop()
		var err error
		if r.probe, err = startSpeedProbe(pctx, probeInterval); err != nil {
			r.printf("speed probe: %v; the criteria use wall times as measured\n", err)
		}
	}

	if err := r.waitReady(ctx); err != nil {
		return nil, err
	}
	if c.pool > 0 {
		rep.PreParams = &poolReport{Target: c.pool, Parties: c.parties}
		start := time.Now()
		fill, err := r.waitPools(ctx, "before the keygens", false, 0)
		if err != nil {
			return nil, err
		}
		rep.PreParams.FillWaitS = secs(time.Since(start))
		rep.PreParams.FillS = secs(fill)
		r.printf("pre-params: every pool holds %d sets (filled in %.1f s)\n", c.pool, secs(fill))
	}

	// A party that shows a full pool but joined a keygen after logging it is
	// taken as refilled once quiet for twice the first fill's longest
	// generation (which ran as many generations at once as a refill does).
	quiet := 5 * time.Second
	if r.log != nil {
		quiet = min(max(quiet, 2*r.log.maxTookSoFar()), time.Minute)
	}
	var seq *phase
	if c.sequential > 0 {
		_, seq = r.keygens(ctx, "sequential keygen", c.sequential, 1)
		rep.Phases = append(rep.Phases, seq)
	}
	kgStart := time.Now()
	accounts, kg := r.keygenPhase(ctx)
	kgEnd := time.Now()
	rep.Phases = append(rep.Phases, kg)
	if r.log != nil {
		r.log.poll()
		if rep.PreParams != nil {
			rep.PreParams.OnDemand = kg.OnDemand
			rep.PreParams.KeygenPhaseGenerated = r.log.putsBetween(kgStart, kgEnd)
		}
	}
	if rep.PreParams != nil && c.settle && c.signs > 0 && len(accounts) > 0 {
		if took, err := r.refilled(ctx, "after the keygens", quiet); err != nil {
			r.printf("pre-params: %v; signing anyway\n", err)
		} else {
			rep.PreParams.SettleS = secs(took)
		}
	}
	var sgStart time.Time
	var signAlone *phase
	if c.signs > 0 {
		sgStart = time.Now()
		signAlone = r.signPhase(ctx, accounts)
		rep.Phases = append(rep.Phases, signAlone)
	}
	burst := c.burst
	if c.burstX > 0 {
		if seq == nil || seq.Throughput == 0 {
			return rep, errors.New("-burst-x: the sequential phase completed no keygen, so there is no capacity to multiply")
		}
		rep.Capacity, rep.BurstX = capacity(seq.Throughput, c.apiDeadline), c.burstX
		burst = burstSize(c.burstX, rep.Capacity)
		r.printf("capacity: %.3f keygens/s sequential × %s deadline = %d keygens; burst %g× = %d keygens\n",
			seq.Throughput, c.apiDeadline, rep.Capacity, c.burstX, burst)
	}
	var burstK, burstS *phase
	if burst > 0 {
		// Keygens and signs at once: the keygens all together, the signs
		// at -sign-concurrency on the accounts made above.
		var wg sync.WaitGroup
		var bs *phase
		if c.burstSigns > 0 {
			wg.Add(1)
			go func() { defer wg.Done(); bs = r.signs(ctx, "burst sign", c.burstSigns, accounts) }()
		}
		_, bk := r.keygens(ctx, "burst keygen", burst, burst)
		wg.Wait()
		rep.Phases = append(rep.Phases, bk)
		if bs != nil {
			rep.Phases = append(rep.Phases, bs)
		}
		burstK, burstS = bk, bs
	}
	// The sequential keygens again, once the pools are full again (a
	// refill beside them would slow them): the machine's speed drifts, so
	// the reference throughput is taken on both sides of the concurrent
	// phases.
	ref, concurrentEnd := seq, time.Now()
	var after *phase
	if c.sequentialAfter > 0 {
		if rep.PreParams != nil && c.settle {
			if _, err := r.refilled(ctx, "before the last sequential keygens", quiet); err != nil {
				r.printf("pre-params: %v; the last sequential keygens run anyway\n", err)
			}
		}
		_, after = r.keygens(ctx, "last sequential keygen", c.sequentialAfter, 1)
		rep.Phases = append(rep.Phases, after)
		ref = bracket(seq, after)
		if seq != nil {
			rep.SequentialBefore = seq.Throughput
		}
		rep.SequentialAfter, rep.SequentialBoth = after.Throughput, ref.Throughput
		if seq != nil && seq.Throughput > 0 && after.Throughput > 0 {
			rep.SequentialDrift = after.Throughput/seq.Throughput - 1
		}
	}
	if burstK != nil {
		if ref != nil && ref.Throughput > 0 {
			rep.GoodputRatio = burstK.Throughput / ref.Throughput
		}
		rep.BurstWorkRatio = burstWork(burstK, ref, signAlone, burstS)
		rep.Criteria = overloadCriteria(rep.Phases, ref, signAlone, burstS)
		refNs, _ := r.probe.between(rep.Started, time.Now())
		refMs := refNs / 1e6
		if adj := atSpeed(rep.Phases, refMs); adj != nil {
			// Each phase at the run's mean speed (speedProbe), and as
			// measured too.
			rep.SpeedRefMs = refMs
			cref := adj.of(seq)
			if after != nil {
				cref = bracket(adj.of(seq), adj.of(after))
			}
			if cref != nil && cref.Throughput > 0 {
				rep.GoodputRatioAtSpeed = adj.of(burstK).Throughput / cref.Throughput
			}
			rep.Criteria = withMeasured(overloadCriteria(adj.all, cref, adj.of(signAlone), adj.of(burstS)), rep.Criteria)
		} else if r.probe != nil {
			r.printf("speed probe: a phase has no sample; the criteria use wall times as measured\n")
		}
		rep.CriteriaMet = allMet(rep.Criteria)
	}
	if r.log != nil {
		r.log.poll()
		rep.StackLogs = r.log.warningsSince(kgStart)
		if rep.PreParams != nil && !sgStart.IsZero() {
			rep.PreParams.SignPhaseGenerated = r.log.putsBetween(sgStart, concurrentEnd)
		}
	}
	for _, p := range rep.Phases {
		rep.Errors += p.Errors
	}
	rep.OK = rep.Errors == 0 && len(rep.Phases) > 0
	fmt.Println()
	fmt.Print(markdown([]*report{rep}))
	if len(rep.StackLogs) > 0 {
		fmt.Println("\nstack warnings and errors during the load (by message):")
		for _, k := range sortedKeys(rep.StackLogs) {
			fmt.Printf("  %4d  %s\n", rep.StackLogs[k], k)
		}
	}
	if rep.Errors > 0 {
		fmt.Println("\nfailures:")
		for _, p := range rep.Phases {
			for _, f := range p.Failures {
				fmt.Println("  " + f.String())
			}
		}
		return rep, fmt.Errorf("%d of %d requests failed", rep.Errors, totalCount(rep))
	}
	if ctx.Err() != nil {
		return rep, ctx.Err()
	}
	return rep, nil
}

func totalCount(rep *report) int {
	n := 0
	for _, p := range rep.Phases {
		n += p.Count
	}
	return n
}

func (r *runner) printf(format string, a ...any) {
	r.outMu.Lock()
	defer r.outMu.Unlock()
	fmt.Printf(format, a...)
}

// stackAlive reports whether -stack-pid (if given) still runs.
func (r *runner) stackAlive() error {
	if r.c.stackPID <= 0 {
		return nil
	}
	p, err := os.FindProcess(r.c.stackPID)
	if err == nil {
		err = p.Signal(syscall.Signal(0))
	}
	if err != nil {
		return fmt.Errorf("the stack (pid %d) is not running; see its log", r.c.stackPID)
	}
	return nil
}

// waitReady waits for /health to answer 200 with every server party
// registered.
func (r *runner) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.c.readyTimeout)
	defer cancel()
	last := "no answer"
	for {
		if err := r.stackAlive(); err != nil {
			return err
		}
		var h struct {
			Components struct {
				Pool struct {
					Healthy int `json:"healthy"`
				} `json:"pool"`
			} `json:"components"`
		}
		code, err := r.getJSON(ctx, r.c.api+"/api/v1/health", &h)
		switch {
		case err != nil:
			last = err.Error()
		case code != http.StatusOK:
			last = fmt.Sprintf("/health answered %d", code)
		case h.Components.Pool.Healthy < r.c.parties:
			last = fmt.Sprintf("%d of %d server parties registered", h.Components.Pool.Healthy, r.c.parties)
		default:
			r.printf("stack ready: %d server parties registered\n", h.Components.Pool.Healthy)
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the stack at %s is not ready after %s: %s", r.c.api, r.c.readyTimeout, last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (r *runner) getJSON(ctx context.Context, u string, v any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-API-Key", r.c.apiKey) // /api/v1/health is behind the key
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(v); err != nil {
		return resp.StatusCode, fmt.Errorf("%s: status %d, unreadable body", u, resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// errRefused: the server-party API does not show its details to the
// load's credentials (it takes an admin token, not the API key).
var errRefused = errors.New("server-party API refused the health details")

// livePreParams is the server-party API's own pre-params count (one party).
func (r *runner) livePreParams(ctx context.Context) (string, int, error) {
	var h struct {
		Components struct {
			PartyID string `json:"party_id"`
			Ready   *int   `json:"preparams_ready"`
		} `json:"components"`
	}
	code, err := r.getJSON(ctx, r.c.partyAPI+"/api/v1/health", &h)
	if code == http.StatusUnauthorized || code == http.StatusForbidden {
		return "", 0, errRefused
	}
	if err != nil {
		return "", 0, err
	}
	if h.Components.Ready == nil {
		return "", 0, errors.New("server-party /health has no components.preparams_ready")
	}
	return h.Components.PartyID, *h.Components.Ready, nil
}

// waitPools waits until every server party's pool holds -pool sets, as the
// stack's log shows them: each "pre-params ready" line gives a party's level
// after adding a set. Before the keygens nothing takes from the pools, so
// the last level is current. After them (refill) a party counts as refilled
// once its last level is at target and was logged after its last keygen
// join (a keygen takes its pre-params just before joining); failing that,
// once the level is at target and the party has been quiet for twice the
// longest generation of the first fill (a party below target is always
// generating). A party that logs its level at each take too ("pre-params
// taken") needs neither: its last level is current. The server-party
// API's live count, if known, must agree. It returns the fill time the
// log shows.
func (r *runner) waitPools(ctx context.Context, when string, refill bool, quiet time.Duration) (time.Duration, error) {
	lastPrint := time.Now()
	for {
		if err := r.stackAlive(); err != nil {
			return 0, err
		}
		st := r.log.poll()
		if st.jsonLines == 0 && st.lines > 5 {
			return 0, fmt.Errorf("%s has no JSON lines: start the stack with TSSKIT_LOG_FORMAT=json", r.c.stackLog)
		}
		full := len(st.parties) >= r.c.parties
		var levels []string
		for _, id := range sortedKeys(st.parties) {
			p := st.parties[id]
			ok := p.full(r.c.pool, refill, quiet, time.Now())
			s := fmt.Sprintf("%s %d/%d", id, p.level, r.c.pool)
			if p.level >= r.c.pool && !ok {
				s += " (settling)"
			}
			levels = append(levels, s)
			full = full && ok
		}
		if full && refill && r.c.partyAPI != "" && !r.noLive {
			// The server-party API shows its details to an admin token
			// only: without one, the log's levels decide alone.
			id, n, err := r.livePreParams(ctx)
			switch {
			case errors.Is(err, errRefused):
				r.noLive = true
				r.printf("pre-params: the server-party API does not show its count to this caller; going by the log\n")
			case err != nil || n < r.c.pool:
				full = false
			}
			if err == nil {
				levels = append(levels, fmt.Sprintf("(%s live: %d)", id, n))
			}
		}
		if full {
			var fill time.Duration
			if !st.firstReady.IsZero() && !st.fullAt.IsZero() {
				fill = st.fullAt.Sub(st.firstReady)
			}
			return fill, nil
		}
		if time.Since(lastPrint) >= 5*time.Second {
			lastPrint = time.Now()
			if len(levels) == 0 {
				levels = []string{"no server party in the log yet"}
			}
			r.printf("pre-params %s: %s\n", when, strings.Join(levels, ", "))
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("pre-params pools not at %d %s: %s (%w)", r.c.pool, when, strings.Join(levels, ", "), ctx.Err())
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// refilled waits (at most -settle-timeout) for every pool to be full
// again after keygens took from it, and says how long that took.
func (r *runner) refilled(ctx context.Context, when string, quiet time.Duration) (time.Duration, error) {
	start := time.Now()
	sctx, cancel := context.WithTimeout(ctx, r.c.settleTimeout)
	defer cancel()
	if _, err := r.waitPools(sctx, when, true, quiet); err != nil {
		return 0, err
	}
	took := time.Since(start)
	r.printf("pre-params: pools refilled in %.1f s (not timed)\n", secs(took))
	return took, nil
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// ---- the phases ----

// phaseRun runs count jobs, conc at a time, and fills a phase.
func (r *runner) phaseRun(ctx context.Context, op string, count, conc int, job func(ctx context.Context, i int) *failure) *phase {
	ph := &phase{Op: op, Count: count, Concurrency: conc}
	r.printf("%s: %d requests, %d at a time\n", op, count, conc)
	idx := make(chan int)
	var mu sync.Mutex
	var lats, refusals []float64
	cpu0, cpuOK := r.stackCPU()
	done := 0
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range idx {
				t0 := time.Now()
				f := job(ctx, i)
				lat := time.Since(t0)
				mu.Lock()
				done++
				if f != nil && f.Code == "overloaded" {
					refusals = append(refusals, secs(lat))
					r.printf("%s %d/%d refused (overloaded) in %.3f s\n", op, done, count, secs(lat))
				} else if f != nil {
					if f.Status == http.StatusGatewayTimeout || f.Code == "deadline_exceeded" {
						ph.TimedOut++
					}
					f.Op, f.Index, f.AfterS = op, i, secs(lat)
					ph.Failures = append(ph.Failures, *f)
					r.printf("%s %d/%d FAILED, %s\n", op, done, count, f)
				} else {
					lats = append(lats, secs(lat))
					r.printf("%s %d/%d done in %.2f s (p50 so far %.2f s, errors %d)\n", op, done, count, secs(lat), percentile(lats, 0.50), len(ph.Failures))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range count {
		idx <- i
	}
	close(idx)
	wg.Wait()
	wall := time.Since(start)
	ph.WallS = secs(wall)
	ph.OK = len(lats)
	ph.Errors = len(ph.Failures)
	ph.LatenciesS = lats
	if ph.Refused = len(refusals); ph.Refused > 0 {
		ph.RefusalP50, ph.RefusalP99, ph.RefusalMax = percentile(refusals, 0.50), percentile(refusals, 0.99), slices.Max(refusals)
	}
	if ph.OK > 0 {
		ph.Throughput = float64(ph.OK) / wall.Seconds()
		ph.P50S, ph.P99S = percentile(lats, 0.50), percentile(lats, 0.99)
		ph.MinS, ph.MaxS = slices.Min(lats), slices.Max(lats)
		sum := 0.0
		for _, l := range lats {
			sum += l
		}
		ph.MeanS = sum / float64(len(lats))
	}
	ph.LoadAvg = loadAvg()
	ph.start, ph.end = start, start.Add(wall)
	if ns, n := r.probe.between(ph.start, ph.end); n > 0 {
		ph.ProbeMs, ph.ProbeSamples = ns/1e6, n
	}
	if cpu1, ok := r.stackCPU(); ok && cpuOK {
		ph.StackCPUS = cpu1 - cpu0
		if ph.OK > 0 {
			ph.CPUPerOK = ph.StackCPUS / float64(ph.OK)
		}
	}
	return ph
}

func (r *runner) keygenPhase(ctx context.Context) ([]account, *phase) {
	return r.keygens(ctx, "keygen", r.c.keygens, r.c.keygenConc)
}

// keygens runs count account keygens, conc at a time, as phase op.
func (r *runner) keygens(ctx context.Context, op string, count, conc int) ([]account, *phase) {
	accounts := make([]*account, count)
	ph := r.phaseRun(ctx, op, count, conc, func(ctx context.Context, i int) *failure {
		a, f := r.keygen(ctx, op, i)
		accounts[i] = a
		return f
	})
	var out []account
	for _, a := range accounts {
		if a != nil {
			out = append(out, *a)
		}
	}
	ph.Verified = len(out)
	if r.log != nil {
		// Keygen phases only: a sign phase running beside one would count
		// its keygens' lines too.
		r.log.poll()
		ph.OnDemand = r.log.onDemandBetween(ph.start, ph.end)
	}
	return out, ph
}

func (r *runner) signPhase(ctx context.Context, accounts []account) *phase {
	return r.signs(ctx, "sign", r.c.signs, accounts)
}

// signs runs count signs over accounts, -sign-concurrency at a time, as
// phase op.
func (r *runner) signs(ctx context.Context, op string, count int, accounts []account) *phase {
	if len(accounts) == 0 {
		ph := &phase{Op: op, Count: count, Concurrency: r.c.signConc, Errors: count}
		for i := range count {
			ph.Failures = append(ph.Failures, failure{Op: op, Index: i, Kind: "skipped", Message: "no account was created"})
		}
		r.printf("%s: skipped, no account was created\n", op)
		return ph
	}
	ph := r.phaseRun(ctx, op, count, min(r.c.signConc, max(count, 1)), func(ctx context.Context, i int) *failure {
		return r.sign(ctx, accounts[i%len(accounts)])
	})
	ph.Verified = ph.OK // a sign counts as ok only once its signature verified
	return ph
}

// post sends a JSON request and decodes a 2xx body into out; anything else
// is a failure.
func (r *runner) post(ctx context.Context, path string, body any, want int, out any) *failure {
	b, err := json.Marshal(body)
	if err != nil {
		return &failure{Kind: "transport", Message: err.Error()}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.c.api+path, bytes.NewReader(b))
	if err != nil {
		return &failure{Kind: "transport", Message: err.Error()}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-API-Key", r.c.apiKey)
	resp, err := r.client.Do(req)
	if err != nil {
		return &failure{Kind: "transport", Message: err.Error()}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return &failure{Kind: "transport", Status: resp.StatusCode, Message: "reading the body: " + err.Error()}
	}
	if resp.StatusCode != want {
		var e struct {
			Error *struct {
				Code    string `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		f := &failure{Kind: "http", Status: resp.StatusCode}
		if json.Unmarshal(raw, &e) == nil && e.Error != nil {
			f.Code, f.Message = e.Error.Code, e.Error.Message
		} else {
			f.Message = fmt.Sprintf("want %d; body %q", want, truncate(string(raw), 200))
		}
		return f
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &failure{Kind: "verify", Status: resp.StatusCode, Message: "unreadable JSON: " + err.Error()}
	}
	return nil
}

func (r *runner) keygen(ctx context.Context, op string, i int) (*account, *failure) {
	userID := fmt.Sprintf("load-%s-%s-%d", r.runID, op, i)
	var out struct {
		AccountID string `json:"account_id"`
		UserID    string `json:"user_id"`
		PublicKey string `json:"public_key"`
		Address   string `json:"address"`
		Threshold int    `json:"threshold"`
		Parties   int    `json:"parties"`
		UserShare string `json:"user_share"`
	}
	body := map[string]string{"user_id": userID, "share_password": "load " + randomHex(16)}
	if f := r.post(ctx, "/api/v1/accounts", body, http.StatusCreated, &out); f != nil {
		return nil, f
	}
	bad := func(format string, a ...any) (*account, *failure) {
		return nil, &failure{Kind: "verify", Status: http.StatusCreated, Account: out.AccountID, Message: fmt.Sprintf(format, a...)}
	}
	if out.AccountID == "" {
		return bad("no account_id")
	}
	if out.UserID != userID {
		return bad("user_id %q, sent %q", out.UserID, userID)
	}
	pk, err := hex.DecodeString(out.PublicKey)
	if err != nil || len(pk) != 33 {
		return bad("public_key is not 33 bytes of hex (compressed SEC1)")
	}
	pub, err := secp256k1.ParsePubKey(pk)
	if err != nil {
		return bad("public_key is not a secp256k1 point: %v", err)
	}
	if want := ethAddress(pub); out.Address != want {
		return bad("address %s, the public key's is %s", out.Address, want)
	}
	if out.Threshold != 2 || out.Parties != 3 {
		return bad("threshold %d of %d parties, want 2 of 3", out.Threshold, out.Parties)
	}
	if out.UserShare == "" {
		return bad("no user_share")
	}
	return &account{id: out.AccountID, pub: pub}, nil
}

func (r *runner) sign(ctx context.Context, a account) *failure {
	var digest [32]byte
	if _, err := rand.Read(digest[:]); err != nil {
		return &failure{Kind: "transport", Account: a.id, Message: "crypto/rand: " + err.Error()}
	}
	var out struct {
		R         string `json:"r"`
		S         string `json:"s"`
		V         *int   `json:"v"`
		Signature string `json:"signature"`
		DER       string `json:"der"`
	}
	if f := r.post(ctx, "/api/v1/accounts/"+url.PathEscape(a.id)+"/sign", map[string]string{"message": hex.EncodeToString(digest[:])}, http.StatusOK, &out); f != nil {
		f.Account = a.id
		return f
	}
	if err := verifySignature(a.pub, digest[:], out.R, out.S, out.Signature, out.DER, out.V); err != nil {
		return &failure{Kind: "verify", Status: http.StatusOK, Account: a.id, Message: err.Error()}
	}
	return nil
}

// verifySignature checks a signature from the API with decred's secp256k1:
// the DER form verifies against pub, r||s is the same signature (and
// equals the "signature" field when given), S is low, and the recovery id
// recovers pub.
func verifySignature(pub *secp256k1.PublicKey, digest []byte, rHex, sHex, sigHex, derHex string, v *int) error {
	der, err := hex.DecodeString(derHex)
	if err != nil || len(der) == 0 {
		return errors.New("der is not hex")
	}
	dsig, err := ecdsa.ParseDERSignature(der)
	if err != nil {
		return fmt.Errorf("der does not parse: %v", err)
	}
	if !dsig.Verify(digest, pub) {
		return errors.New("the DER signature does not verify against the account's public key")
	}
	rb, err1 := hex.DecodeString(rHex)
	sb, err2 := hex.DecodeString(sHex)
	if err1 != nil || err2 != nil || len(rb) != 32 || len(sb) != 32 {
		return errors.New("r and s must be 32 bytes of hex each")
	}
	var rs, ss secp256k1.ModNScalar
	if rs.SetByteSlice(rb) || ss.SetByteSlice(sb) || rs.IsZero() || ss.IsZero() {
		return errors.New("r or s out of range")
	}
	if !ecdsa.NewSignature(&rs, &ss).IsEqual(dsig) {
		return errors.New("r||s and der are different signatures")
	}
	if ss.IsOverHalfOrder() {
		return errors.New("s is not low (over half the group order)")
	}
	if sigHex != "" && !strings.EqualFold(sigHex, rHex+sHex) {
		return errors.New("signature is not r||s")
	}
	if v == nil {
		return errors.New("no recovery id v")
	}
	if *v < 0 || *v > 3 {
		return fmt.Errorf("recovery id v=%d out of range", *v)
	}
	compact := make([]byte, 65)
	compact[0] = byte(27 + 4 + *v) // compact form: 27 + recovery id, +4 for a compressed key
	copy(compact[1:], rb)
	copy(compact[33:], sb)
	rec, _, err := ecdsa.RecoverCompact(compact, digest)
	if err != nil || !rec.IsEqual(pub) {
		return fmt.Errorf("recovery id v=%d does not recover the account's public key", *v)
	}
	return nil
}

// ethAddress is the Ethereum address of pub, as the API reports it:
// lowercase hex of the last 20 bytes of Keccak-256(X||Y).
func ethAddress(pub *secp256k1.PublicKey) string {
	h := sha3.NewLegacyKeccak256()
	h.Write(pub.SerializeUncompressed()[1:])
	return "0x" + hex.EncodeToString(h.Sum(nil)[12:])
}

// ---- the stack's log ----

// stackLog follows the stack's JSON log for pre-params pool levels and for
// the warnings and errors it logs during the load.
type stackLog struct {
	path string
	mu   sync.Mutex
	off  int64
	rest []byte
	st   logState
}

type logState struct {
	lines, jsonLines int
	firstReady       time.Time // first "server party ready"
	parties          map[string]partyPool
	fullAt           time.Time // when every pool first held the target
	maxTook          time.Duration
	puts             []time.Time
	onDemand         []time.Time
	warns            []logWarn
	target, want     int
}

// partyPool is one server party's pre-params pool as its log shows it.
type partyPool struct {
	level  int       // after the last set added or taken (or at start)
	putAt  time.Time // when the last set added was logged
	takeAt time.Time // the party's last keygen join or take
	// taken: the party logs its level at a take ("pre-params taken"), so
	// level is current and no quiet time is needed to trust it.
	taken bool
}

// full says whether the party's pool is at target as of now (waitPools).
// Before any keygen (refill false) its last level is current. After
// keygens a level logged at a take is current too; a level only logged at
// puts is trusted once logged after the party's last keygen join, or once
// the party has been quiet for quiet (a party below target is always
// generating, so a quiet one logged its last put).
func (p partyPool) full(target int, refill bool, quiet time.Duration, now time.Time) bool {
	if p.level < target {
		return false
	}
	if !refill || p.taken || p.putAt.After(p.takeAt) {
		return true
	}
	return now.Sub(laterOf(p.putAt, p.takeAt)) >= quiet
}

type logWarn struct {
	t   time.Time
	msg string
}

func newStackLog(path string) *stackLog {
	return &stackLog{path: path, st: logState{parties: map[string]partyPool{}}}
}

// poll reads what the log gained and returns a copy of the state.
func (l *stackLog) poll() logState {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f, err := os.Open(l.path); err == nil {
		if _, err := f.Seek(l.off, io.SeekStart); err == nil {
			b, _ := io.ReadAll(io.LimitReader(f, 64<<20))
			l.off += int64(len(b))
			b = append(l.rest, b...)
			for {
				i := bytes.IndexByte(b, '\n')
				if i < 0 {
					break
				}
				l.line(b[:i])
				b = b[i+1:]
			}
			l.rest = append([]byte(nil), b...)
		}
		f.Close()
	}
	st := l.st
	st.parties = make(map[string]partyPool, len(l.st.parties))
	for k, v := range l.st.parties {
		st.parties[k] = v
	}
	return st
}

func (l *stackLog) setTarget(target, parties int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.st.target, l.st.want = target, parties
}

// maxTookSoFar is the longest pre-params generation logged so far.
func (l *stackLog) maxTookSoFar() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.st.maxTook
}

// parseLine decodes one JSON log line, keeping the first value of a
// repeated key (slog writes a key given twice twice; the first is the
// logger's own context, e.g. the server party's id).
func parseLine(b []byte) (map[string]any, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	m := map[string]any{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		k, _ := t.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		if _, dup := m[k]; !dup {
			m[k] = v
		}
	}
	return m, true
}

func (l *stackLog) line(b []byte) {
	l.st.lines++
	if len(b) == 0 || b[0] != '{' {
		return
	}
	e, ok := parseLine(b)
	if !ok {
		return
	}
	l.st.jsonLines++
	t, _ := time.Parse(time.RFC3339Nano, str(e["time"]))
	msg, party := str(e["msg"]), str(e["party"])
	switch msg {
	case "server party ready":
		if l.st.firstReady.IsZero() || t.Before(l.st.firstReady) {
			l.st.firstReady = t
		}
		if n, ok := e["preparams_ready"].(float64); ok && party != "" {
			l.setLevel(party, int(n), t)
		}
	case "pre-params ready":
		if n, ok := e["pool"].(float64); ok && party != "" {
			l.setLevel(party, int(n), t)
		}
		l.st.puts = append(l.st.puts, t)
		if took, ok := e["took"].(float64); ok {
			l.st.maxTook = max(l.st.maxTook, time.Duration(took))
		}
	case "pre-params taken", "pre-params entry corrupt, set aside", "pre-params take failed":
		// Takes, with the level after them.
		if n, ok := e["pool"].(float64); ok && party != "" {
			p := l.st.parties[party]
			p.level, p.taken, p.takeAt = int(n), true, laterOf(p.takeAt, t)
			l.st.parties[party] = p
		}
	case "pre-params pool empty: generating for this session":
		l.st.onDemand = append(l.st.onDemand, t)
	case "joined":
		// A keygen seat (kind 1) or a user party, which only keygens have.
		_, user := e["user_party"]
		if kind, _ := e["kind"].(float64); (kind == 1 || user) && str(e["service"]) == "serverparty" && party != "" {
			p := l.st.parties[party]
			p.takeAt = laterOf(p.takeAt, t)
			l.st.parties[party] = p
		}
	}
	if lv := str(e["level"]); lv == "WARN" || lv == "ERROR" {
		m := lv + " " + msg
		if err := str(e["err"]); err != "" {
			m += ": " + truncate(err, 160)
		}
		l.st.warns = append(l.st.warns, logWarn{t, m})
	}
}

func (l *stackLog) setLevel(party string, n int, t time.Time) {
	p := l.st.parties[party]
	p.level, p.putAt = n, t
	l.st.parties[party] = p
	if l.st.target <= 0 || len(l.st.parties) < l.st.want || !l.st.fullAt.IsZero() {
		return
	}
	for _, p := range l.st.parties {
		if p.level < l.st.target {
			return
		}
	}
	l.st.fullAt = t
}

func (l *stackLog) onDemandBetween(a, b time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return countBetween(l.st.onDemand, a, b)
}

func (l *stackLog) putsBetween(a, b time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return countBetween(l.st.puts, a, b)
}

func (l *stackLog) warningsSince(a time.Time) map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]int{}
	for _, w := range l.st.warns {
		if !w.t.Before(a) {
			out[w.msg]++
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

func countBetween(ts []time.Time, a, b time.Time) int {
	n := 0
	for _, t := range ts {
		if !t.Before(a) && !t.After(b) {
			n++
		}
	}
	return n
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

// ---- output ----

func writeReports(c config, rep *report) error {
	if c.jsonOut != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(c.jsonOut, append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	if c.mdOut != "" {
		if err := os.WriteFile(c.mdOut, []byte(markdown([]*report{rep})), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// markdown is the table of every phase of reps and a note for each report.
func markdown(reps []*report) string {
	var b strings.Builder
	b.WriteString("| backend | op | count | concurrency | wall s | completed | throughput /s | p50 s | p99 s | refused (p99 s) | timed out | errors | CPU-s per completed |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, rep := range reps {
		for _, p := range rep.Phases {
			refused := "0"
			if p.Refused > 0 {
				refused = fmt.Sprintf("%d (%.3f)", p.Refused, p.RefusalP99)
			}
			cpu := "–"
			if p.CPUPerOK > 0 {
				cpu = fmt.Sprintf("%.1f", p.CPUPerOK)
			}
			fmt.Fprintf(&b, "| %s | %s | %d | %d | %.2f | %d | %.3f | %s | %s | %s | %d | %d | %s |\n",
				rep.Label, p.Op, p.Count, p.Concurrency, p.WallS, p.OK, p.Throughput, fsec(p.P50S, p.OK), fsec(p.P99S, p.OK), refused, p.TimedOut, p.Errors, cpu)
		}
		if rep.GoodputRatio > 0 {
			fmt.Fprintf(&b, "| %s | burst goodput / sequential throughput | | | | | %.2f | | | | | | |\n", rep.Label, rep.GoodputRatio)
		}
		if rep.BurstWorkRatio > 0 {
			fmt.Fprintf(&b, "| %s | burst goodput, keygens and signs at unloaded cost / capacity | | | | | %.2f | | | | | | |\n", rep.Label, rep.BurstWorkRatio)
		}
	}
	b.WriteString("\n")
	for _, rep := range reps {
		var notes []string
		for _, p := range rep.Phases {
			switch p.Op {
			case "keygen":
				notes = append(notes, fmt.Sprintf("%d/%d accounts made and checked (public key on the curve, address from it, user share present)", p.Verified, p.Count))
			case "sign":
				notes = append(notes, fmt.Sprintf("%d/%d signatures verified with decred secp256k1 against the account's public key (DER, r||s, low S, recovery id)", p.Verified, p.Count))
			}
		}
		if pp := rep.PreParams; pp != nil {
			var od []string
			for _, p := range rep.Phases {
				if p.OnDemand > 0 {
					od = append(od, fmt.Sprintf("%d in the %ss", p.OnDemand, p.Op))
				}
			}
			if len(od) == 0 {
				od = []string{"none"}
			}
			s := fmt.Sprintf("pre-params pool of %d per server party (%d parties), filled in %.1f s before the clock started; server-party keygen seats that made pre-params on the spot (pool empty): %s", pp.Target, pp.Parties, pp.FillS, strings.Join(od, ", "))
			if pp.KeygenPhaseGenerated > 0 {
				s += fmt.Sprintf("; the parties refilled %d sets while the keygens ran (a take starts a refill)", pp.KeygenPhaseGenerated)
			}
			if pp.SettleS > 0 {
				s += fmt.Sprintf("; pools refilled in %.1f s between the phases, untimed", pp.SettleS)
			}
			if pp.SignPhaseGenerated > 0 {
				s += fmt.Sprintf("; %d pre-params sets were generated during the signs", pp.SignPhaseGenerated)
			}
			notes = append(notes, s)
		}
		switch {
		case rep.SequentialBoth > 0 && rep.SequentialBefore > 0:
			notes = append(notes, fmt.Sprintf("sequential throughput %.3f keygens/s before the concurrent phases, %.3f after (drift %+.1f%%); the ratios use both together, %.3f/s",
				rep.SequentialBefore, rep.SequentialAfter, 100*rep.SequentialDrift, rep.SequentialBoth))
		case rep.SequentialBoth > 0:
			notes = append(notes, fmt.Sprintf("sequential throughput %.3f keygens/s after the concurrent phases (none before); the ratios use it", rep.SequentialAfter))
		}
		if rep.Capacity > 0 {
			notes = append(notes, fmt.Sprintf("capacity: %d keygens within one API deadline at the sequential throughput; the burst was %g× that", rep.Capacity, rep.BurstX))
		}
		var probe []string
		for _, p := range rep.Phases {
			if p.ProbeMs > 0 {
				probe = append(probe, fmt.Sprintf("%.2f in the %ss", p.ProbeMs, p.Op))
			}
		}
		if len(probe) > 0 {
			s := "machine speed, the probe's CPU ms for one 2048-bit exponentiation (more is slower): " + strings.Join(probe, ", ")
			if rep.SpeedRefMs > 0 {
				s += fmt.Sprintf("; the criteria take each phase at the run's mean, %.2f ms", rep.SpeedRefMs)
				if rep.GoodputRatio > 0 && rep.GoodputRatioAtSpeed > 0 {
					s += fmt.Sprintf(" (burst goodput / sequential throughput %.2f so taken, %.2f as measured)", rep.GoodputRatioAtSpeed, rep.GoodputRatio)
				}
			}
			notes = append(notes, s)
		}
		if len(rep.Criteria) > 0 {
			verdict := "all met"
			if !rep.CriteriaMet {
				verdict = "NOT all met"
			}
			s := "overload criteria " + verdict + ":"
			for _, c := range rep.Criteria {
				s += "\n    - " + c.String()
			}
			notes = append(notes, s)
		}
		if n := len(rep.StackLogs); n > 0 {
			total := 0
			for _, v := range rep.StackLogs {
				total += v
			}
			notes = append(notes, fmt.Sprintf("the stack logged %d warnings/errors during the load (%d kinds; see the JSON report)", total, n))
		}
		var la, cpu []string
		for _, p := range rep.Phases {
			if p.LoadAvg > 0 {
				la = append(la, fmt.Sprintf("%.1f after the %ss", p.LoadAvg, p.Op))
			}
			if p.StackCPUS > 0 && p.WallS > 0 {
				cpu = append(cpu, fmt.Sprintf("%.1f CPU-s in the %ss (%.0f%% of %d cores × wall)", p.StackCPUS, p.Op, 100*p.StackCPUS/(p.WallS*float64(max(rep.Host.CPUs, 1))), rep.Host.CPUs))
			}
		}
		if len(cpu) > 0 {
			notes = append(notes, "the stack used "+strings.Join(cpu, ", "))
		}
		if len(la) > 0 {
			notes = append(notes, "machine load average "+strings.Join(la, ", "))
		}
		notes = append(notes, fmt.Sprintf("%d CPUs, %s, %s, %s", rep.Host.CPUs, rep.Host.OS, rep.Host.Go, rep.Started.Format("2006-01-02")))
		fmt.Fprintf(&b, "- **%s**\n", rep.Label)
		for _, n := range notes {
			fmt.Fprintf(&b, "  - %s\n", n)
		}
	}
	return b.String()
}

func fsec(v float64, n int) string {
	if n == 0 {
		return "–"
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func combineReports(out string, files []string) error {
	if len(files) == 0 {
		return errors.New("-combine: give the JSON reports as arguments")
	}
	var reps []*report
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		var r report
		if err := json.Unmarshal(b, &r); err != nil {
			return fmt.Errorf("%s: %v", f, err)
		}
		reps = append(reps, &r)
	}
	return os.WriteFile(out, []byte(markdown(reps)), 0o644)
}

// ---- helpers ----

// percentile is the nearest-rank p-quantile of xs (unsorted).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	k := int(math.Ceil(p*float64(len(s)))) - 1
	return s[min(max(k, 0), len(s)-1)]
}

func secs(d time.Duration) float64 { return d.Seconds() }

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func printFreePorts(n int) error {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		ls = append(ls, l)
		fmt.Println(l.Addr().(*net.TCPAddr).Port)
	}
	return nil
}

var schemaName = regexp.MustCompile(`^load_[0-9a-f]{12}$`)

func createPGSchema(base string) error {
	u, err := url.Parse(base)
	if err != nil {
		return errors.New("-create-schema: the URL does not parse")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		return fmt.Errorf("PostgreSQL at %s: %s", redactURL(u), redactErr(err, u))
	}
	defer conn.Close(context.Background())
	schema := "load_" + randomHex(6)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		return fmt.Errorf("create schema: %s", redactErr(err, u))
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	fmt.Println(u.String())
	return nil
}

func dropPGSchema(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("-drop-schema: the URL does not parse")
	}
	schema := u.Query().Get("search_path")
	if !schemaName.MatchString(schema) {
		return fmt.Errorf("-drop-schema: search_path %q is not a schema this program made (load_ and 12 hex digits)", schema)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, raw)
	if err != nil {
		return fmt.Errorf("PostgreSQL at %s: %s", redactURL(u), redactErr(err, u))
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+schema+" CASCADE"); err != nil {
		return fmt.Errorf("drop schema %s: %s", schema, redactErr(err, u))
	}
	return nil
}

// redactURL is u without its password, for messages.
func redactURL(u *url.URL) string { return u.Redacted() }

func redactErr(err error, u *url.URL) string {
	msg := err.Error()
	if pw, ok := u.User.Password(); ok && pw != "" {
		msg = strings.ReplaceAll(msg, pw, "xxxxx")
	}
	return msg
}

// loadAvg is the machine's 1-minute load average, 0 where /proc/loadavg
// is missing: other work on the machine shows in the figures.
func loadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// stackCPU is the CPU time, user and system, the stack process (-stack-pid)
// has used so far, from /proc/<pid>/stat (Linux; USER_HZ = 100).
func (r *runner) stackCPU() (float64, bool) {
	if r.c.stackPID <= 0 {
		return 0, false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.c.stackPID))
	if err != nil {
		return 0, false
	}
	// The command name, field 2, is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3
	if len(f) < 13 {
		return 0, false
	}
	utime, err1 := strconv.ParseFloat(f[11], 64) // field 14
	stime, err2 := strconv.ParseFloat(f[12], 64) // field 15
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return (utime + stime) / 100, true
}
