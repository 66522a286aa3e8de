package commands

import (
	"strings"

	"github.com/urfave/cli/v2"
)

var defaultFlagStringer = cli.FlagStringer

func init() { cli.FlagStringer = flagString }

// flagString renders a flag for --help. Our usage texts state their own
// default, so urfave/cli's appended "(default: ...)" is dropped when the
// text already has one, and its generic "value" placeholder becomes the
// flag's name in capitals.
func flagString(f cli.Flag) string {
	s := defaultFlagStringer(f)
	df, ok := f.(cli.DocGenerationFlag)
	if !ok {
		return s
	}
	if strings.Contains(df.GetUsage(), "(default") {
		if i := strings.LastIndex(s, " (default: "); i >= 0 && strings.HasSuffix(s, ")") && strings.Contains(s[:i], "(default") {
			s = s[:i]
		}
	}
	if df.TakesValue() && strings.Contains(s, " value") {
		names := f.Names()
		placeholder := strings.ToUpper(strings.ReplaceAll(names[0], "-", "_"))
		s = strings.ReplaceAll(s, " value,", " "+placeholder+",")
		s = strings.ReplaceAll(s, " value\t", " "+placeholder+"\t")
		s = strings.ReplaceAll(s, " value ", " "+placeholder+" ")
	}
	return s
}
