package commands

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/urfave/cli/v2"
)

// prepareArgs readies args for the flag parser when they run a client
// command (one with an -o flag or a -D flag): the command's options file
// is inserted before the command-line arguments, so that the command line
// overrides it, and each -D with its three or four words becomes one
// argument. Other commands' arguments are returned unchanged.
func prepareArgs(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 {
		return args, nil
	}
	var cmd *cli.Command
	for _, c := range app.Commands {
		if c.HasName(args[1]) {
			cmd = c
		}
	}
	if cmd == nil {
		return args, nil
	}
	valueFlags := map[string]bool{}
	var hasOptFile, hasProperty bool
	for _, f := range cmd.Flags {
		_, isBool := unwrap(f).(*cli.BoolFlag)
		for _, n := range f.Names() {
			valueFlags[n] = !isBool
			hasOptFile = hasOptFile || n == "o"
			hasProperty = hasProperty || n == "property"
		}
	}
	rest := args[2:]
	if hasOptFile {
		fileArgs, err := optionFileArgs(cmd.Name, rest, valueFlags)
		if err != nil {
			return nil, usagef(cmd.Name, "%v", err)
		}
		rest = append(fileArgs, rest...)
	}
	if hasProperty {
		rest = joinPropertyArgs(rest, valueFlags)
	}
	if cmd.Name == "pub" || cmd.Name == "sub" || cmd.Name == "rr" {
		if err := checkFlags(cmd, rest, valueFlags); err != nil {
			return nil, err
		}
	}
	return append([]string{args[0], args[1]}, rest...), nil
}

// missingValue names what each flag's value is, for mosquitto's
// "-t argument given but no topic specified."
var missingValue = map[string]string{
	"A": "address", "C": "count", "F": "format", "I": "id prefix", "L": "URL", "P": "password",
	"T": "topic filter", "U": "unsubscribe topic", "W": "timeout", "e": "response topic",
	"f": "file", "h": "host", "i": "id", "k": "keepalive", "m": "message", "p": "port",
	"q": "QoS", "t": "topic", "u": "username", "x": "session expiry interval",
	"cafile": "file", "capath": "directory", "cert": "file", "key": "file",
	"protocol-version": "version", "random-filter": "chance", "repeat": "count",
	"repeat-delay": "time", "tls-alpn": "protocol", "tls-version": "version",
	"unix": "socket path", "will-payload": "will payload", "will-qos": "will QoS",
	"will-topic": "will topic",
}

// checkFlags reports, as mosquitto does, the first option in args that cmd
// does not have (spelt as given) and a last option missing its value. It
// stops at the first positional argument, which the flag parser leaves for
// the command to reject.
func checkFlags(cmd *cli.Command, args []string, valueFlags map[string]bool) error {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return nil
		}
		name, hasValue := flagName(a)
		if name == "" {
			return nil
		}
		takesValue, known := valueFlags[name]
		if !known && name != "help" {
			return usagef(cmd.Name, "Unknown option '%s'.", a)
		}
		if !takesValue || hasValue {
			continue
		}
		if i == len(args)-1 {
			spelt := "--" + name
			for _, f := range cmd.Flags {
				if names := f.Names(); slices.Contains(names, name) {
					for _, n := range names {
						if len(n) == 1 {
							spelt = "-" + n
						}
					}
				}
			}
			what, ok := missingValue[strings.TrimLeft(spelt, "-")]
			if !ok {
				what = "value"
			}
			return usagef(cmd.Name, "%s argument given but no %s specified.", spelt, what)
		}
		i++
	}
	return nil
}

// optionFileArgs returns the arguments in the options file for cmd: the
// file named by -o in args, else the default file, which may be missing.
func optionFileArgs(cmd string, args []string, valueFlags map[string]bool) ([]string, error) {
	path, explicit, err := optionFilePath(args, valueFlags)
	if err != nil {
		return nil, err
	}
	if path == "" {
		path = defaultOptionFile(cmd)
		if path == "" {
			return nil, nil
		}
	}
	f, err := os.Open(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("Unable to open options file: %v.", err)
	}
	defer f.Close()
	out, err := parseOptionFile(f)
	if err != nil {
		return nil, fmt.Errorf("Unable to read options file %s: %v.", path, err)
	}
	return out, nil
}

// optionFilePath finds "-o FILE" in args, skipping the values of other
// flags.
func optionFilePath(args []string, valueFlags map[string]bool) (path string, explicit bool, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		name, hasValue := flagName(a)
		if name == "" {
			continue
		}
		if name == "o" {
			if explicit {
				return "", false, errors.New("Duplicate -o argument given.")
			}
			explicit = true
			if hasValue {
				path = a[strings.IndexByte(a, '=')+1:]
				continue
			}
			if i == len(args)-1 {
				return "", false, errors.New("-o argument given but no options file specified.")
			}
			path = args[i+1]
			i++
			continue
		}
		if name == "D" || name == "property" {
			// -D takes three or four words; none of them is -o.
			if !hasValue {
				i += 3
				if i-1 < len(args) && strings.EqualFold(args[i-1], "user-property") {
					i++
				}
			}
			continue
		}
		if valueFlags[name] && !hasValue {
			i++
		}
	}
	return path, explicit, nil
}

// defaultOptionFile is $XDG_CONFIG_HOME/mqtool/<cmd>, else
// ~/.config/mqtool/<cmd>; "" when neither variable is set.
func defaultOptionFile(cmd string) string {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return filepath.Join(d, "mqtool", cmd)
	}
	if h := os.Getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "mqtool", cmd)
	}
	return ""
}

// parseOptionFile reads mosquitto's options file format: one "-option
// value" per line, split at the first space; lines starting with # are
// comments. The words after -D are split at spaces, since -D takes several.
func parseOptionFile(f *os.File) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r\n")
		line = strings.TrimLeft(line, " \t")
		if line == "" || line[0] == '#' {
			continue
		}
		opt, value, hasValue := strings.Cut(line, " ")
		value = strings.TrimLeft(value, " \t")
		out = append(out, opt)
		if !hasValue {
			continue
		}
		if name, _ := flagName(opt); name == "D" || name == "property" {
			out = append(out, strings.Fields(value)...)
			continue
		}
		out = append(out, value)
	}
	return out, sc.Err()
}
