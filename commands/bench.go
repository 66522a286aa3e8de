package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/mqtool/mqtool/bench"
	"github.com/mqtool/mqtool/format"
)

func init() { commandList = append(commandList, benchCommand) }

// Flag categories of bench.
const (
	catLoad   = "Load"
	catReport = "Report"
)

// benchOutput is where and how a bench result is reported.
type benchOutput struct {
	json       string // file, "-" for stdout, "" none
	csv        string
	hgrm       string // directory
	thresholds []bench.Threshold
	color      format.ColorMode
	quiet      bool
}

// benchOptions is everything `mqtool bench` was asked to do.
type benchOptions struct {
	cfg bench.Config
	out benchOutput
}

func benchReportFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "json", Category: catReport,
			Usage: "write the whole result (percentiles and histograms) as JSON to `FILE`, - for stdout instead of the table (default: none)"},
		&cli.StringFlag{Name: "csv", Category: catReport,
			Usage: "write the per-second series as CSV to `FILE`, - for stdout instead of the table (default: none)"},
		&cli.StringFlag{Name: "hgrm", Category: catReport,
			Usage: "write each latency histogram's percentile distribution (HdrHistogram .hgrm text, values in ms) into `DIR` as qos<N>-<e2e|e2e_u|ack|ack_u>.hgrm (default: none)"},
		&cli.StringSliceFlag{Name: "threshold", Category: catReport,
			Usage: "fail (exit 1) unless every QoS run meets `COND`, e.g. 'e2e.p99<5ms', 'lost=0', 'ack.p50<=2ms', 'recv.rate>=1000'; " +
				"metrics e2e|e2e_u|ack|ack_u .p50|.p90|.p99|.p99.9|.p99.99|.max|.mean, sent, recv, lost, dup, reordered, late, failed, " +
				"sent.rate, recv.rate (msg/s), sent.mbps, recv.mbps (MB/s), cpu (%); repeatable (default: none)"},
		&cli.StringFlag{Name: "color", Value: "auto", Category: catReport,
			Usage: "colour the table: auto (on a terminal, unless NO_COLOR is set), always or never"},
	}
}

func benchCommand(s *format.Streams) *cli.Command {
	flags := []cli.Flag{
		&cli.IntFlag{Name: "publishers", Value: 1, Category: catLoad,
			Usage: "number of publishing clients, `N` >= 1"},
		&cli.IntFlag{Name: "subscribers", Value: 1, Category: catLoad,
			Usage: "number of subscribing clients, `N` >= 0"},
		&cli.StringFlag{Name: "pattern", Value: "pair", Category: catLoad,
			Usage: "topology `NAME`: pair (publisher i to subscriber i), fan-in or fan-out (one shared topic)"},
		&cli.StringFlag{Name: "topic", Aliases: []string{"t"}, Category: catLoad,
			Usage: "topic `TEMPLATE` instead of --pattern: %i publisher index, %c publisher client id; subscriber j subscribes to publisher j's topic (default: the -L path, else none)"},
		&cli.StringFlag{Name: "filter", Category: catLoad,
			Usage: "every subscriber subscribes to `FILTER` instead; in a shared subscription ($share/GROUP/...) they share the messages, and loss and duplicates are counted over the group (default: none)"},
		&cli.StringFlag{Name: "qos", Aliases: []string{"q"}, Value: "0,1,2", Category: catLoad,
			Usage: "QoS `LIST`, e.g. 1 or 0,1,2: one run and one table row per level"},
		&cli.IntFlag{Name: "size", Aliases: []string{"s"}, Value: 64, Category: catLoad,
			Usage: fmt.Sprintf("payload size in `BYTES`, >= %d (the bench header)", bench.HeaderSize)},
		&cli.Float64Flag{Name: "rate", Aliases: []string{"r"}, Category: catLoad,
			Usage: "total messages per second over all publishers, open loop, `N` >= 0; 0 sends as fast as the inflight window allows: at QoS 1/2 unacknowledged messages, at QoS 0 messages not yet delivered to every subscriber (100 against a remote host)"},
		&cli.IntFlag{Name: "inflight", Category: catLoad, DefaultText: "-M, 20",
			Usage: "QoS 1/2 messages in flight per publisher, `N` >= 1; default the -M value"},
		&cli.DurationFlag{Name: "duration", Value: 10 * time.Second, Category: catLoad,
			Usage: "measured time after the warm-up, a `DURATION` such as 10s or 500ms; with --count alone, until the count is sent"},
		&cli.DurationFlag{Name: "warmup", Value: 2 * time.Second, Category: catLoad,
			Usage: "load before measuring, excluded from the results, a `DURATION`; 0 with --count alone"},
		&cli.Uint64Flag{Name: "count", Aliases: []string{"C"}, Category: catLoad,
			Usage: "messages per publisher, `N`; 0 is no limit"},
		&cli.BoolFlag{Name: "retain", Category: catLoad,
			Usage: "publish retained messages, cleared at the end"},
		&cli.Float64Flag{Name: "connect-rate", Category: catLoad,
			Usage: "new connections per second, `N`; 0 connects in parallel (10/s against a remote host)"},
		&cli.DurationFlag{Name: "drain", Value: time.Second, Category: catLoad,
			Usage: "after the last send, wait until this `DURATION` passes with no delivery before counting the rest lost"},
		&cli.DurationFlag{Name: "tick", Category: catLoad,
			Usage: "with --rate, wake publishers at most once per `DURATION` (e.g. 1ms), each time sending every message due since, and read from the broker at most once per DURATION while messages keep coming: less bench CPU per message at high rates, at up to DURATION of added latency on each side, which is counted (latency runs from each message's intended time); 0 wakes for every message"},
		&cli.IntFlag{Name: "procs", Category: catLoad, DefaultText: "auto",
			Usage: "threads running bench's Go code at once (GOMAXPROCS), `N` >= 1; default $GOMAXPROCS if set, else half the CPUs against a broker on this machine, which needs CPU too, else all"},
		&cli.BoolFlag{Name: "i-know-its-shared", Category: catLoad,
			Usage: fmt.Sprintf("lift the limits against a non-loopback host (%d clients, %d msg/s, %d conn/s)",
				bench.SharedMaxClients, bench.SharedMaxRate, bench.SharedMaxConnect)},
	}
	flags = append(flags, benchReportFlags()...)
	flags = append(flags, connectionFlags("bench")...)
	return &cli.Command{
		Name:      "bench",
		Usage:     "load-test a broker: throughput, loss and latency per QoS",
		UsageText: "mqtool bench [options]\nmqtool bench conn [options]\nmqtool bench merge FILE.json...",
		Description: "Runs publishers and subscribers end to end, one run per QoS level, at an open-loop rate.\n" +
			"Latency is measured from each message's intended send time (corrected for coordinated\n" +
			"omission; e2e_u/ack_u are uncorrected), end to end and to PUBACK/PUBCOMP. Loss at\n" +
			"QoS 1 or 2, or duplicates at QoS 2, make the exit code 1. A warning on stderr says\n" +
			"when bench may itself be the limit (its CPU near --procs cores) or fell behind its\n" +
			"schedule (over 1% of sends late).",
		Flags:        flags,
		OnUsageError: benchUsageError("bench"),
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usagef("bench", "Unknown argument '%s'.", c.Args().First())
			}
			o, err := newBenchOptions(c, s)
			if err != nil {
				return err
			}
			return runBench(c.Context, o, s)
		},
		Subcommands: []*cli.Command{benchConnCommand(s), benchMergeCommand(s)},
	}
}

func benchUsageError(cmd string) cli.OnUsageErrorFunc {
	return func(_ *cli.Context, err error, _ bool) error {
		return usagef(cmd, "%v", err)
	}
}

func newBenchOutput(c *cli.Context, cmd string) (benchOutput, error) {
	out := benchOutput{json: c.String("json"), csv: c.String("csv"), hgrm: c.String("hgrm"), quiet: c.Bool("quiet")}
	mode, err := format.ParseColorMode(c.String("color"))
	if err != nil {
		return out, usagef(cmd, "--color must be auto, always or never.")
	}
	out.color = mode
	if out.json == "-" && out.csv == "-" {
		return out, usagef(cmd, "--json and --csv cannot both write to stdout.")
	}
	for _, t := range c.StringSlice("threshold") {
		th, err := bench.ParseThreshold(t)
		if err != nil {
			return out, usagef(cmd, "%v", err)
		}
		out.thresholds = append(out.thresholds, th)
	}
	return out, nil
}

func newBenchOptions(c *cli.Context, s *format.Streams) (*benchOptions, error) {
	const cmd = "bench"
	cn, err := parseConnection(c, cmd, s)
	if err != nil {
		return nil, err
	}
	topic := c.String("topic")
	if !c.IsSet("topic") && cn.HasURLTopic && cn.URLTopic != "" {
		topic = cn.URLTopic
	}
	out, err := newBenchOutput(c, cmd)
	if err != nil {
		return nil, err
	}
	pattern, err := bench.ParsePattern(c.String("pattern"))
	if err != nil {
		return nil, usagef(cmd, "%v", err)
	}
	qos, err := bench.ParseQoSList(c.String("qos"))
	if err != nil {
		return nil, usagef(cmd, "%v", err)
	}
	inflight := c.Int("inflight")
	if !c.IsSet("inflight") {
		inflight = c.Int("M")
	}
	if inflight < 1 {
		return nil, usagef(cmd, "--inflight must be at least 1, not %d", inflight)
	}
	cfg := bench.Config{
		Client:      cn.Options,
		IDPrefix:    c.String("id-prefix"),
		Publishers:  c.Int("publishers"),
		Subscribers: c.Int("subscribers"),
		Pattern:     pattern,
		Topic:       topic,
		Filter:      c.String("filter"),
		QoS:         qos,
		Size:        c.Int("size"),
		Rate:        c.Float64("rate"),
		Inflight:    inflight,
		Duration:    c.Duration("duration"),
		Warmup:      c.Duration("warmup"),
		Count:       c.Uint64("count"),
		Retain:      c.Bool("retain"),
		ConnectRate: c.Float64("connect-rate"),
		Drain:       c.Duration("drain"),
		AllowShared: c.Bool("i-know-its-shared"),
		Tick:        c.Duration("tick"),
		Procs:       c.Int("procs"),
	}
	if !c.IsSet("procs") {
		cfg.Procs = bench.AutoProcs(cfg.Client.URL)
	} else if cfg.Procs < 1 {
		return nil, usagef(cmd, "--procs must be at least 1, not %d", cfg.Procs)
	}
	if cfg.Count > 0 {
		if !c.IsSet("duration") {
			cfg.Duration = 0
		}
		if !c.IsSet("warmup") {
			cfg.Warmup = 0
		}
	}
	if c.IsSet("drain") && cfg.Drain <= 0 {
		return nil, usagef(cmd, "--drain must be positive")
	}
	if err := cfg.Validate(); err != nil {
		return nil, usagef(cmd, "%v", err)
	}
	return &benchOptions{cfg: cfg, out: out}, nil
}

func runBench(ctx context.Context, o *benchOptions, s *format.Streams) error {
	if s.ErrTTY && !o.out.quiet {
		o.cfg.Progress = func(p bench.Progress) {
			fmt.Fprint(s.Err, format.ProgressLine(format.BenchProgress{
				QoS: int(p.QoS), Phase: p.Phase, Elapsed: p.Elapsed, Sent: p.Sent, Received: p.Received,
				SentRate: p.SentRate, RecvRate: p.RecvRate, Behind: p.Behind, E2EP99: bench.Duration(p.E2EP99),
			}))
		}
	}
	res, runErr := bench.Run(ctx, o.cfg)
	if o.cfg.Progress != nil {
		fmt.Fprint(s.Err, format.ClearLine)
	}
	if res == nil {
		return clientExit(s, runErr, o.out.quiet)
	}
	if runErr != nil {
		// A run that failed before sending anything has no figures to show.
		if n := len(res.Runs); n > 0 && res.Runs[n-1].Sent == 0 {
			res.Runs = res.Runs[:n-1]
		}
		if len(res.Runs) == 0 {
			return clientExit(s, runErr, o.out.quiet)
		}
	}
	if err := reportBench(res, o.out, s); err != nil {
		return err
	}
	if w := res.Warnings(); len(w) > 0 && !o.out.quiet {
		if err := format.BenchWarnings(s.Err, w, s.Color(o.out.color, true)); err != nil {
			return err
		}
	}
	if runErr != nil {
		return clientExit(s, runErr, o.out.quiet)
	}
	return judgeBench(res, o.out, s)
}

// reportBench writes res as the table (or JSON/CSV to stdout) and the
// files asked for.
func reportBench(res *bench.Result, out benchOutput, s *format.Streams) error {
	if out.json != "-" && out.csv != "-" {
		if err := format.BenchTable(s.Out, benchRows(res), s.Color(out.color, false)); err != nil {
			return err
		}
	}
	if out.json != "" {
		if err := writeTo(s, out.json, res.WriteJSON); err != nil {
			return err
		}
	}
	if out.csv != "" {
		if err := writeTo(s, out.csv, func(w io.Writer) error { return format.BenchCSV(w, benchSeconds(res)) }); err != nil {
			return err
		}
	}
	if out.hgrm != "" {
		if err := writeHgrm(out.hgrm, res); err != nil {
			return err
		}
	}
	return nil
}

// judgeBench reports problems and failed thresholds; either exits 1.
func judgeBench(res *bench.Result, out benchOutput, s *format.Streams) error {
	problems := res.Problems()
	problems = append(problems, bench.CheckAll(out.thresholds, res)...)
	if len(problems) == 0 {
		return nil
	}
	if !out.quiet {
		if err := format.BenchProblems(s.Err, problems, s.Color(out.color, true)); err != nil {
			return err
		}
	}
	return &ExitError{Code: 1, Err: errors.New(problems[0]), Silent: true}
}

func writeTo(s *format.Streams, path string, write func(io.Writer) error) error {
	if path == "-" {
		return write(s.Out)
	}
	f, err := os.Create(path)
	if err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("bench: %w", err)}
	}
	if err := write(f); err != nil {
		f.Close()
		return &ExitError{Code: 1, Err: fmt.Errorf("bench: write %s: %w", path, err)}
	}
	if err := f.Close(); err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("bench: write %s: %w", path, err)}
	}
	return nil
}

// writeHgrm writes qos<N>-<e2e|e2e_u|ack|ack_u>.hgrm into dir for every
// latency with samples.
func writeHgrm(dir string, res *bench.Result) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return &ExitError{Code: 1, Err: fmt.Errorf("bench: --hgrm: %w", err)}
	}
	for _, q := range res.Runs {
		for _, l := range []struct {
			name string
			lat  bench.Latency
		}{{"e2e", q.E2E}, {"e2e_u", q.E2EUncorrected}, {"ack", q.Ack}, {"ack_u", q.AckUncorrected}} {
			if l.lat.Count == 0 {
				continue
			}
			path := filepath.Join(dir, fmt.Sprintf("qos%d-%s.hgrm", q.QoS, l.name))
			if err := writeTo(nil, path, func(w io.Writer) error { return bench.HgrmWrite(w, l.lat) }); err != nil {
				return err
			}
		}
	}
	return nil
}

func benchRows(res *bench.Result) []format.BenchRow {
	var rows []format.BenchRow
	for i := range res.Runs {
		q := &res.Runs[i]
		rows = append(rows, format.BenchRow{
			QoS: q.QoS, SentRate: q.SentRate, RecvRate: q.RecvRate, RecvMBps: q.RecvMBps,
			Lost: q.Lost, Dup: q.Dup, LostBad: q.LossIsError(), DupBad: q.DupIsError(),
			HasE2E: q.E2E.Count > 0,
			E2EP50: bench.Duration(q.E2E.P50), E2EP99: bench.Duration(q.E2E.P99),
			E2EP999: bench.Duration(q.E2E.P999), E2EMax: bench.Duration(q.E2E.Max),
			HasAck: q.Ack.Count > 0,
			AckP50: bench.Duration(q.Ack.P50), AckP99: bench.Duration(q.Ack.P99),
			Late: q.Late, CPUPercent: q.CPU.Percent,
		})
	}
	return rows
}

func benchSeconds(res *bench.Result) []format.BenchSecond {
	var secs []format.BenchSecond
	for _, q := range res.Runs {
		for _, x := range q.Series {
			secs = append(secs, format.BenchSecond{
				QoS: q.QoS, T: x.T, Sent: x.Sent, Received: x.Received, Late: x.Late,
				E2EP50: bench.Duration(x.E2EP50), E2EP99: bench.Duration(x.E2EP99), E2EMax: bench.Duration(x.E2EMax),
				AckP50: bench.Duration(x.AckP50), AckP99: bench.Duration(x.AckP99),
			})
		}
	}
	return secs
}

func benchConnCommand(s *format.Streams) *cli.Command {
	flags := []cli.Flag{
		&cli.IntFlag{Name: "clients", Value: 100, Category: catLoad,
			Usage: "connections to open, `N` >= 1"},
		&cli.Float64Flag{Name: "connect-rate", Category: catLoad,
			Usage: "new connections per second, `N`; 0 opens them as fast as --concurrency allows (10/s against a remote host)"},
		&cli.IntFlag{Name: "concurrency", Value: 32, Category: catLoad,
			Usage: "handshakes in progress at once, `N` >= 1"},
		&cli.DurationFlag{Name: "hold", Category: catLoad,
			Usage: "keep every connection open for `DURATION` after the last one is made, then disconnect; a line on stderr says when the hold starts (default: disconnect at once)"},
		&cli.BoolFlag{Name: "i-know-its-shared", Category: catLoad,
			Usage: fmt.Sprintf("lift the limits against a non-loopback host (%d clients, %d conn/s)",
				bench.SharedMaxClients, bench.SharedMaxConnect)},
		&cli.StringFlag{Name: "json", Category: catReport,
			Usage: "write the result as JSON to `FILE`, - for stdout instead of the summary (default: none)"},
		&cli.StringFlag{Name: "color", Value: "auto", Category: catReport,
			Usage: "colour the summary: auto (on a terminal, unless NO_COLOR is set), always or never"},
	}
	flags = append(flags, connectionFlags("bench")...)
	return &cli.Command{
		Name:         "conn",
		Usage:        "measure connection set-up: connections per second and CONNACK latency for N clients",
		UsageText:    "mqtool bench conn [--clients N] [--connect-rate N] [--hold DURATION] [options]",
		Flags:        flags,
		OnUsageError: benchUsageError("bench conn"),
		Action: func(c *cli.Context) error {
			const cmd = "bench conn"
			if c.Args().Present() {
				return usagef(cmd, "Unknown argument '%s'.", c.Args().First())
			}
			copts, err := connectionOptions(c, "bench", s)
			if err != nil {
				return err
			}
			mode, err := format.ParseColorMode(c.String("color"))
			if err != nil {
				return usagef(cmd, "--color must be auto, always or never.")
			}
			if c.Int("concurrency") < 1 {
				return usagef(cmd, "--concurrency must be at least 1")
			}
			if c.Duration("hold") < 0 {
				return usagef(cmd, "--hold must not be negative")
			}
			res, err := bench.RunConn(c.Context, bench.ConnConfig{
				Client: copts, IDPrefix: c.String("id-prefix"), Clients: c.Int("clients"),
				ConnectRate: c.Float64("connect-rate"), Concurrency: c.Int("concurrency"),
				AllowShared: c.Bool("i-know-its-shared"),
				Hold:        c.Duration("hold"),
				Holding: func(n int) {
					fmt.Fprintf(s.Err, "mqtool bench conn: holding %d connections for %s\n", n, c.Duration("hold"))
				},
			})
			if res == nil {
				return usagef(cmd, "%v", err)
			}
			if err == nil && res.Connected == 0 && res.Err != nil {
				// Nothing connected: the broker is unreachable or refuses us.
				return clientExit(s, fmt.Errorf("bench: conn: %w", res.Err), c.Bool("quiet"))
			}
			if j := c.String("json"); j != "" {
				if werr := writeTo(s, j, func(w io.Writer) error { return res.WriteJSON(w) }); werr != nil {
					return werr
				}
			}
			if c.String("json") != "-" {
				rep := format.BenchConnReport{
					Clients: res.Clients, Connected: res.Connected, Failed: res.Failed,
					Elapsed: time.Duration(res.Seconds * float64(time.Second)), Rate: res.Rate,
					P50: bench.Duration(res.Connack.P50), P90: bench.Duration(res.Connack.P90),
					P99: bench.Duration(res.Connack.P99), Max: bench.Duration(res.Connack.Max),
					CPUPercent: res.CPU.Percent, FirstError: res.FirstError,
					Held: time.Duration(res.Held * float64(time.Second)), Dropped: res.Dropped,
				}
				if werr := format.BenchConnTable(s.Out, rep, s.Color(mode, false)); werr != nil {
					return werr
				}
			}
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			if res.Failed > 0 {
				return &ExitError{Code: 1, Err: fmt.Errorf("bench: %d of %d connections failed: %s", res.Failed, res.Clients, res.FirstError)}
			}
			if res.Dropped > 0 {
				return &ExitError{Code: 1, Err: fmt.Errorf("bench: %d of %d connections dropped during the hold: %s", res.Dropped, res.Connected, res.FirstError)}
			}
			return nil
		},
	}
}

func benchMergeCommand(s *format.Streams) *cli.Command {
	return &cli.Command{
		Name:  "merge",
		Usage: "combine bench --json results from several machines: histograms merged exactly, counts summed",
		UsageText: "mqtool bench merge [--json FILE] [--threshold COND]... A.json B.json...\n" +
			"Runs are matched by QoS; rates are totals over the longest measured window.",
		Flags:        benchReportFlags(),
		OnUsageError: benchUsageError("bench merge"),
		Action: func(c *cli.Context) error {
			const cmd = "bench merge"
			out, err := newBenchOutput(c, cmd)
			if err != nil {
				return err
			}
			if c.NArg() == 0 {
				return usagef(cmd, "give the JSON result files to merge")
			}
			var results []*bench.Result
			for _, path := range c.Args().Slice() {
				r, err := readResultFile(path)
				if err != nil {
					return &ExitError{Code: 1, Err: err}
				}
				results = append(results, r)
			}
			merged, err := bench.Merge(results...)
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			if err := reportBench(merged, out, s); err != nil {
				return err
			}
			return judgeBench(merged, out, s)
		},
	}
}

func readResultFile(path string) (*bench.Result, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	defer f.Close()
	r, err := bench.ReadResult(f)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return r, nil
}
