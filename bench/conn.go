package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/mqtool/mqtool/client"
)

// ConnConfig describes a connection set-up run (`mqtool bench conn`).
type ConnConfig struct {
	Client   client.Options
	IDPrefix string
	Clients  int
	// ConnectRate is new connections per second; 0 opens them as fast as
	// Concurrency allows.
	ConnectRate float64
	// Concurrency bounds the handshakes in progress (default 32).
	Concurrency int
	AllowShared bool
	// Hold keeps every connection open this long after the last one is
	// made, before disconnecting, so the broker's idle footprint can be
	// measured; ctx ending cuts it short.
	Hold time.Duration
	// Holding, if set, is called with the number of connections open when
	// the hold starts.
	Holding func(connected int)
}

// ConnResult is what a connection run measured. Latency is from the start
// of the dial to CONNACK (TCP, TLS or WebSocket set-up included).
type ConnResult struct {
	Format    int     `json:"format"`
	Target    string  `json:"target"`
	Clients   int     `json:"clients"`
	Connected int     `json:"connected"`
	Failed    int     `json:"failed"`
	Seconds   float64 `json:"seconds"`
	Rate      float64 `json:"connections_per_s"`
	Connack   Latency `json:"connack"`
	CPU       CPU     `json:"cpu"`
	// Held is how long the connections were held open, in seconds.
	Held float64 `json:"held_s,omitempty"`
	// Dropped counts connections that ended during the hold.
	Dropped    int    `json:"dropped"`
	FirstError string `json:"first_error,omitempty"`
	// Err is the first connection error itself.
	Err error `json:"-"`
}

// WriteJSON writes r as indented JSON.
func (r *ConnResult) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// RunConn opens cfg.Clients connections, measuring each handshake, holds
// them open for cfg.Hold, then disconnects them all. It returns an error
// only for bad configuration or when ctx ends; refused connections are
// counted in the result.
func RunConn(ctx context.Context, cfg ConnConfig) (*ConnResult, error) {
	if cfg.Clients < 1 {
		return nil, fmt.Errorf("bench: --clients must be at least 1, not %d", cfg.Clients)
	}
	if cfg.ConnectRate < 0 || cfg.ConnectRate != cfg.ConnectRate {
		return nil, fmt.Errorf("bench: --connect-rate must be 0 or more, not %v", cfg.ConnectRate)
	}
	if cfg.IDPrefix == "" {
		cfg.IDPrefix = "mqtool-bench"
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 32
	}
	local, err := IsLocal(cfg.Client.URL)
	if err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if !local && !cfg.AllowShared {
		if cfg.Clients > SharedMaxClients {
			return nil, fmt.Errorf("bench: %d clients against a remote broker; at most %d without --i-know-its-shared", cfg.Clients, SharedMaxClients)
		}
		if cfg.ConnectRate == 0 || cfg.ConnectRate > SharedMaxConnect {
			cfg.ConnectRate = SharedMaxConnect
		}
	}
	runID := newRunID()
	res := &ConnResult{Format: ResultFormat, Target: cfg.Client.URL, Clients: cfg.Clients}
	hist := newHist()
	var (
		mu      sync.Mutex
		clients []*client.Client
		wg      sync.WaitGroup
	)
	sem := make(chan struct{}, cfg.Concurrency)
	var interval time.Duration
	if cfg.ConnectRate > 0 {
		interval = time.Duration(float64(time.Second) / cfg.ConnectRate)
	}
	cpu := startCPU()
	start := time.Now()
	clk := monoClock{epoch: start}
	if interval > 0 {
		var release func()
		clk, release = clk.withTimer()
		defer release()
	}
	sched := Schedule{interval: float64(interval)}
	err = sched.pace(ctx, clk, 0, uint64(cfg.Clients), func(k uint64, _ time.Duration) error {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			o := cfg.Client
			o.ClientID = fmt.Sprintf("%s-%x-c%d", cfg.IDPrefix, runID&0xffffffff, k)
			o.CleanStart = true
			t0 := time.Now()
			c, err := client.Dial(ctx, o)
			d := time.Since(t0)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				res.Failed++
				if res.Err == nil {
					res.Err = err
					res.FirstError = err.Error()
				}
				return
			}
			res.Connected++
			record(hist, d)
			clients = append(clients, c)
		}()
		return nil
	})
	wg.Wait()
	elapsed := time.Since(start)
	res.CPU = cpu.stop()
	res.Seconds = elapsed.Seconds()
	if res.Seconds > 0 {
		res.Rate = float64(res.Connected) / res.Seconds
	}
	res.Connack = summarize(hist)
	if err == nil && cfg.Hold > 0 && len(clients) > 0 {
		err = hold(ctx, cfg, clients, res)
	}

	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	for _, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c.Disconnect(dctx, nil) != nil {
				_ = c.Close()
			}
			<-c.Done()
		}()
	}
	wg.Wait()
	if err != nil && !errors.Is(err, context.Canceled) {
		return res, fmt.Errorf("bench: conn: %w", err)
	}
	if err != nil {
		return res, fmt.Errorf("bench: conn: interrupted: %w", err)
	}
	return res, nil
}

// hold waits for cfg.Hold or until ctx ends, then counts the connections
// that ended meanwhile.
func hold(ctx context.Context, cfg ConnConfig, clients []*client.Client, res *ConnResult) error {
	if cfg.Holding != nil {
		cfg.Holding(len(clients))
	}
	start := time.Now()
	t := time.NewTimer(cfg.Hold)
	defer t.Stop()
	var err error
	select {
	case <-t.C:
	case <-ctx.Done():
		err = ctx.Err()
	}
	res.Held = time.Since(start).Seconds()
	for _, c := range clients {
		select {
		case <-c.Done():
			res.Dropped++
			if res.Err == nil {
				res.Err = c.Err()
				if res.Err != nil {
					res.FirstError = res.Err.Error()
				}
			}
		default:
		}
	}
	return err
}
