// Command mqtool is an MQTT toolkit: a broker (serve), clients (pub, sub,
// rr) and a load generator (bench).
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/mqtool/mqtool/commands"
	"github.com/mqtool/mqtool/format"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := commands.Main(ctx, os.Args, format.System())
	stop()
	os.Exit(code)
}
