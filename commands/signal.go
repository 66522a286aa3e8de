package commands

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/urfave/cli/v2"
)

// NotifyContext returns a copy of parent that ends on SIGINT or SIGTERM,
// and a function that stops the handling, as signal.NotifyContext does:
// once it returns, the signals have their default effect again.
// It installs the handler on a goroutine of its own, because signal.Notify
// waits for the runtime's signal-mask thread to start: about 0.25 ms, a
// twentieth of a cold `mqtool pub -m`, which then overlaps with parsing
// the command line. Main waits for the installation before it runs a
// command's action, so a signal is caught once a command has done
// anything another process can see.
func NotifyContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(parent)
	h := &signalHandler{installed: make(chan struct{}), stopped: make(chan struct{}), done: make(chan struct{})}
	ctx = context.WithValue(ctx, signalHandlerKey{}, h)
	go h.run(ctx, cancel)
	var once sync.Once
	return ctx, func() {
		once.Do(func() {
			cancel()
			close(h.stopped)
		})
		<-h.done
	}
}

type signalHandlerKey struct{}

// signalHandler is NotifyContext's goroutine: installed is closed once
// signals are caught, stopped once the stop function is called, done once
// the goroutine has stopped catching them and ends.
type signalHandler struct {
	installed chan struct{}
	stopped   chan struct{}
	done      chan struct{}
}

func (h *signalHandler) run(ctx context.Context, cancel context.CancelFunc) {
	defer close(h.done)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	close(h.installed)
	select {
	case <-ch:
		cancel()
	case <-ctx.Done():
	}
	// Signals stay caught (and ignored) until stop, as with
	// signal.NotifyContext.
	<-h.stopped
	signal.Stop(ch)
}

// waitSignalHandler returns once the handler of ctx's NotifyContext is
// installed; at once for a ctx that has none.
func waitSignalHandler(ctx context.Context) {
	if h, ok := ctx.Value(signalHandlerKey{}).(*signalHandler); ok {
		<-h.installed
	}
}

// gateActions makes every action in cmds (and their subcommands) wait for
// the signal handler first.
func gateActions(cmds []*cli.Command) {
	for _, c := range cmds {
		if act := c.Action; act != nil {
			c.Action = func(cc *cli.Context) error {
				waitSignalHandler(cc.Context)
				return act(cc)
			}
		}
		gateActions(c.Subcommands)
	}
}
