// Command mqtool is an MQTT toolkit: a broker (serve), clients (pub, sub,
// rr) and a load generator (bench).
package main

import (
	"context"
	"os"

	"github.com/mqtool/mqtool/commands"
	"github.com/mqtool/mqtool/format"
)

func main() {
	// The signal handling is not stopped before os.Exit: stopping it waits
	// for the runtime's signal thread, about 0.3 ms of every run, for
	// nothing.
	ctx, _ := commands.NotifyContext(context.Background())
	os.Exit(commands.Main(ctx, os.Args, format.System()))
}
