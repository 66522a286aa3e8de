package commands

import (
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/mqtool/mqtool/format"
)

func init() { commandList = append(commandList, completionCommand) }

// valueKind says how a flag's value or a command's argument completes.
type valueKind int

const (
	valueNone  valueKind = iota // the flag takes no value
	valueFree                   // any text: nothing to offer
	valueWords                  // one of a fixed set of words
	valueFile                   // a file path
	valueDir                    // a directory path
)

// String returns the name the generated scripts use for k.
func (k valueKind) String() string {
	switch k {
	case valueFree:
		return "value"
	case valueWords:
		return "words"
	case valueFile:
		return "file"
	case valueDir:
		return "dir"
	}
	return "none"
}

// valueSpec is how one value completes.
type valueSpec struct {
	kind  valueKind
	words []string
}

func words(w ...string) valueSpec { return valueSpec{kind: valueWords, words: w} }

var (
	fileValue = valueSpec{kind: valueFile}
	dirValue  = valueSpec{kind: valueDir}
)

// flagValues is the one table of flag values with a known shape, keyed by any
// of a flag's names (long or short). A flag that takes a value and is not
// here completes paths when its usage names a `FILE`, `PATH` or `DIR`
// placeholder (see placeholderValues), and nothing otherwise.
var flagValues = map[string]valueSpec{
	"qos":              words("0", "1", "2"),
	"will-qos":         words("0", "1", "2"),
	"protocol-version": words("31", "311", "5", "mqttv31", "mqttv311", "mqttv5"),
	"color":            words("auto", "always", "never"),
	"retain-handling":  words("always", "new", "never"),
	"tls-version":      words("tlsv1.2", "tlsv1.3"),
	"pattern":          words("pair", "fan-in", "fan-out"),
	"cafile":           fileValue,
	"cert":             fileValue,
	"key":              fileValue,
	"file":             fileValue,
	"pw-file":          fileValue,
	"o":                fileValue,
	"unix":             fileValue,
	"hgrm":             dirValue,
	"capath":           dirValue,
}

// placeholderValues completes flags missing from flagValues by the
// `PLACEHOLDER` of their usage.
var placeholderValues = map[string]valueSpec{
	"FILE": fileValue,
	"PATH": fileValue,
	"DIR":  dirValue,
}

// shells are the completion command's arguments, in the order help lists them.
var shells = []string{"bash", "zsh", "fish", "powershell"}

// argValues says how the positional arguments of a command complete, keyed
// by the command's path ("bench merge"). Commands not here complete file
// names when their ArgsUsage mentions a file, and nothing otherwise.
var argValues = map[string]valueSpec{
	"completion":  words(shells...),
	"bench merge": fileValue,
}

const completionDescription = `Prints a completion script for the shell to stdout. The script is static:
it completes commands, flags and flag values without running mqtool.

  bash:        source <(mqtool completion bash)
               or save it as ~/.local/share/bash-completion/completions/mqtool
  zsh:         mqtool completion zsh > "${fpath[1]}/_mqtool"   (then start a new shell)
               or source <(mqtool completion zsh) after compinit
  fish:        mqtool completion fish > ~/.config/fish/completions/mqtool.fish
  powershell:  mqtool completion powershell | Out-String | Invoke-Expression
               (add that line to $PROFILE to keep it)`

func completionCommand(s *format.Streams) *cli.Command {
	return &cli.Command{
		Name:        "completion",
		Usage:       "print a shell completion script (bash, zsh, fish or powershell)",
		ArgsUsage:   strings.Join(shells, "|"),
		Description: completionDescription,
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("completion", "give one shell: %s", strings.Join(shells, ", "))
			}
			script, err := completionScript(App(s), c.Args().First())
			if err != nil {
				return &ExitError{Code: 1, Err: err}
			}
			_, err = io.WriteString(s.Out, script)
			return err
		},
	}
}

// completionScript returns the completion script for shell generated from
// app's command tree.
func completionScript(app *cli.App, shell string) (string, error) {
	root := completionTree(app)
	var b strings.Builder
	switch shell {
	case "bash":
		writeBash(&b, root)
	case "zsh":
		writeZsh(&b, root)
	case "fish":
		writeFish(&b, root)
	case "powershell", "pwsh":
		writePowerShell(&b, root)
	default:
		return "", fmt.Errorf("completion: unknown shell %q: want one of %s", shell, strings.Join(shells, ", "))
	}
	return b.String(), nil
}

// compFlag is one flag as the completion scripts see it.
type compFlag struct {
	names []string // with dashes: "--qos", "-q"
	usage string   // first line of the usage, without `backquotes`
	value valueSpec
	multi bool // may be given more than once
}

// compNode is one command of the tree.
type compNode struct {
	path     string // "" for mqtool itself, "bench conn" for a subcommand
	name     string
	aliases  []string
	usage    string
	flags    []compFlag
	children []*compNode
	args     valueSpec
}

// completionTree reads app's visible commands and flags. The help and
// version flags are added here rather than read, because urfave/cli only
// appends them when a command runs.
func completionTree(app *cli.App) *compNode {
	root := &compNode{name: app.Name, usage: app.Usage}
	for _, f := range compFlags(app.Flags) {
		if app.HideVersion || f.names[0] != "--version" {
			root.flags = append(root.flags, f)
		}
	}
	if !app.HideVersion {
		root.flags = append(root.flags, compFlag{names: []string{"--version"}, usage: "print the version"})
	}
	if !app.HideHelp {
		root.flags = append(root.flags, compFlag{names: []string{"--help"}, usage: "show help"})
	}
	root.children = compCommands("", app.Commands, app.HideHelp)
	return root
}

func compCommands(parent string, cmds []*cli.Command, hideHelp bool) []*compNode {
	var nodes []*compNode
	for _, c := range cmds {
		if c.Hidden || c.Name == "help" {
			continue
		}
		path := strings.TrimSpace(parent + " " + c.Name)
		n := &compNode{path: path, name: c.Name, aliases: c.Aliases, usage: firstLine(c.Usage)}
		n.flags = compFlags(c.Flags)
		hide := hideHelp || c.HideHelp
		if !hide {
			n.flags = append(n.flags, compFlag{names: []string{"--help"}, usage: "show help"})
		}
		n.children = compCommands(path, c.Subcommands, hide)
		if spec, ok := argValues[path]; ok {
			n.args = spec
		} else if strings.Contains(strings.ToLower(c.ArgsUsage), "file") {
			n.args = fileValue
		}
		nodes = append(nodes, n)
	}
	return nodes
}

func compFlags(flags []cli.Flag) []compFlag {
	var out []compFlag
	for _, f := range flags {
		if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
			continue
		}
		names := f.Names()
		if len(names) == 0 || names[0] == "help" {
			continue
		}
		cf := compFlag{}
		for _, n := range names {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			cf.names = append(cf.names, dashName(n))
		}
		if len(cf.names) == 0 {
			continue
		}
		if d, ok := f.(cli.DocGenerationFlag); ok {
			placeholder, usage := unquoteUsage(d.GetUsage())
			cf.usage = firstLine(usage)
			if d.TakesValue() {
				cf.value = flagValue(names, placeholder)
			}
		}
		if s, ok := f.(cli.DocGenerationSliceFlag); ok && s.IsSliceFlag() {
			cf.multi = true
		}
		out = append(out, cf)
	}
	return out
}

// dashName is a flag name as typed: -q, --qos.
func dashName(n string) string {
	if len(n) == 1 {
		return "-" + n
	}
	return "--" + n
}

// unquoteUsage returns the `placeholder` named in a flag's usage, as
// urfave/cli does, and the usage without the backquotes.
func unquoteUsage(usage string) (placeholder, text string) {
	before, rest, ok := strings.Cut(usage, "`")
	if !ok {
		return "", usage
	}
	name, after, ok := strings.Cut(rest, "`")
	if !ok {
		return "", usage
	}
	return name, before + name + after
}

// flagValue says how the value of the flag with these names and usage
// placeholder completes.
func flagValue(names []string, placeholder string) valueSpec {
	for _, n := range names {
		if spec, ok := flagValues[n]; ok {
			return spec
		}
	}
	if spec, ok := placeholderValues[placeholder]; ok {
		return spec
	}
	return valueSpec{kind: valueFree}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(s)
}

// walk calls fn for n and each command below it, parents first.
func (n *compNode) walk(fn func(*compNode)) {
	fn(n)
	for _, c := range n.children {
		c.walk(fn)
	}
}

func (n *compNode) childNames() []string {
	var names []string
	for _, c := range n.children {
		names = append(names, c.name)
	}
	return names
}

func (n *compNode) flagNames() []string {
	var names []string
	for _, f := range n.flags {
		names = append(names, f.names...)
	}
	return names
}

// specString is a value spec as the bash, fish and powershell scripts read
// it: "file", "dir", "value" or "words w1 w2".
func specString(v valueSpec) string {
	if v.kind == valueWords {
		return "words " + strings.Join(v.words, " ")
	}
	return v.kind.String()
}

// shSingle quotes s for bash and zsh.
func shSingle(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

const generatedBy = "Generated by `mqtool completion %s` from mqtool's command definitions; do not edit."

func writeBash(b *strings.Builder, root *compNode) {
	fmt.Fprintf(b, "# bash completion for mqtool. "+generatedBy+"\n", "bash")
	b.WriteString(`# Install: source <(mqtool completion bash)
#      or: mqtool completion bash > ~/.local/share/bash-completion/completions/mqtool

# _mqtool_commands PATH prints the subcommands of the command at PATH.
_mqtool_commands() {
    case "$1" in
`)
	root.walk(func(n *compNode) {
		if len(n.children) > 0 {
			fmt.Fprintf(b, "        %s) echo %s ;;\n", shSingle(n.path), shSingle(strings.Join(n.childNames(), " ")))
		}
	})
	b.WriteString(`    esac
}

# _mqtool_command PATH WORD prints the name of the subcommand WORD (a name or
# an alias) of the command at PATH, or nothing.
_mqtool_command() {
    case "$1|$2" in
`)
	root.walk(func(n *compNode) {
		for _, c := range n.children {
			var pats []string
			for _, name := range append([]string{c.name}, c.aliases...) {
				pats = append(pats, shSingle(n.path+"|"+name))
			}
			fmt.Fprintf(b, "        %s) echo %s ;;\n", strings.Join(pats, "|"), shSingle(c.name))
		}
	})
	b.WriteString(`    esac
}

# _mqtool_flags PATH prints the flags of the command at PATH.
_mqtool_flags() {
    case "$1" in
`)
	root.walk(func(n *compNode) {
		if len(n.flags) > 0 {
			fmt.Fprintf(b, "        %s) echo %s ;;\n", shSingle(n.path), shSingle(strings.Join(n.flagNames(), " ")))
		}
	})
	b.WriteString(`    esac
}

# _mqtool_flag_value PATH FLAG prints how the value of FLAG completes: nothing
# when FLAG takes no value, else value (free text), file, dir or "words W...".
_mqtool_flag_value() {
    case "$1|$2" in
`)
	root.walk(func(n *compNode) {
		for _, f := range n.flags {
			if f.value.kind == valueNone {
				continue
			}
			var pats []string
			for _, name := range f.names {
				pats = append(pats, shSingle(n.path+"|"+name))
			}
			fmt.Fprintf(b, "        %s) echo %s ;;\n", strings.Join(pats, "|"), shSingle(specString(f.value)))
		}
	})
	b.WriteString(`    esac
}

# _mqtool_args PATH prints how the arguments of the command at PATH complete.
_mqtool_args() {
    case "$1" in
`)
	root.walk(func(n *compNode) {
		if n.args.kind != valueNone {
			fmt.Fprintf(b, "        %s) echo %s ;;\n", shSingle(n.path), shSingle(specString(n.args)))
		}
	})
	b.WriteString(`    esac
}

# _mqtool_reply [PREFIX] sets COMPREPLY to the lines of its input, spaces
# kept, each after PREFIX.
_mqtool_reply() {
    local w
    COMPREPLY=()
    while IFS= read -r w; do
        COMPREPLY+=("${1-}$w")
    done
}

# _mqtool_value SPEC CUR [PREFIX] completes CUR as a value described by SPEC.
_mqtool_value() {
    case "$1" in
        file)
            compopt -o filenames 2>/dev/null
            _mqtool_reply "${3-}" < <(compgen -f -- "$2") ;;
        dir)
            compopt -o filenames 2>/dev/null
            _mqtool_reply "${3-}" < <(compgen -d -- "$2") ;;
        words\ *)
            _mqtool_reply "${3-}" < <(compgen -W "${1#words }" -- "$2") ;;
        *)
            COMPREPLY=() ;;
    esac
}

_mqtool() {
    local -a words=()
    local i w n=0 joined=0
    # Join "--flag" "=" "value", which COMP_WORDBREAKS splits, into one word.
    for ((i = 1; i <= COMP_CWORD; i++)); do
        w=${COMP_WORDS[i]}
        if ((n > 0)) && [[ $w == = && ${words[n-1]} == -* && ${words[n-1]} != *=* ]]; then
            words[n-1]+="="
            joined=1
            continue
        fi
        if ((joined)) && [[ ${words[n-1]} == *= ]]; then
            words[n-1]+=$w
            joined=0
            continue
        fi
        joined=0
        words[n++]=$w
    done
    local cur=${words[n-1]} path='' spec c k=0 dashdash=0
    while ((k < n - 1)); do
        w=${words[k]}
        ((k++))
        ((dashdash)) && continue
        case $w in
            --) dashdash=1 ;;
            -*=*) ;;
            -?*)
                spec=$(_mqtool_flag_value "$path" "$w")
                if [[ -n $spec ]]; then
                    if ((k == n - 1)); then
                        _mqtool_value "$spec" "$cur"
                        return 0
                    fi
                    ((k++))
                fi ;;
            *)
                c=$(_mqtool_command "$path" "$w")
                [[ -n $c ]] && path=${path:+$path }$c ;;
        esac
    done
    if ((!dashdash)); then
        case $cur in
            -*=*)
                spec=$(_mqtool_flag_value "$path" "${cur%%=*}")
                if [[ $cur == "${COMP_WORDS[COMP_CWORD]}" ]]; then
                    _mqtool_value "$spec" "${cur#*=}" "${cur%%=*}="
                else
                    _mqtool_value "$spec" "${cur#*=}"
                fi
                return 0 ;;
            -*)
                _mqtool_reply < <(compgen -W "$(_mqtool_flags "$path")" -- "$cur")
                return 0 ;;
        esac
        local cmds
        cmds=$(_mqtool_commands "$path")
        if [[ -n $cmds ]]; then
            _mqtool_reply < <(compgen -W "$cmds" -- "$cur")
            return 0
        fi
    fi
    _mqtool_value "$(_mqtool_args "$path")" "$cur"
    return 0
}

complete -F _mqtool mqtool
`)
}

// zshEscape escapes s for the [description] and item:description parts of
// a zsh _arguments or _describe spec (the spec is then single-quoted).
func zshEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`, `:`, `\:`)
	return r.Replace(s)
}

var nonIdent = regexp.MustCompile(`[^A-Za-z0-9_]+`)

func zshFunc(path string) string {
	if path == "" {
		return "_mqtool"
	}
	return "_mqtool_" + nonIdent.ReplaceAllString(path, "_")
}

func zshAction(v valueSpec) string {
	switch v.kind {
	case valueWords:
		return "(" + strings.Join(v.words, " ") + ")"
	case valueFile:
		return "_files"
	case valueDir:
		return "_files -/"
	}
	return " "
}

func writeZsh(b *strings.Builder, root *compNode) {
	b.WriteString("#compdef mqtool\n")
	fmt.Fprintf(b, "# zsh completion for mqtool. "+generatedBy+"\n", "zsh")
	b.WriteString(`# Install: mqtool completion zsh > "${fpath[1]}/_mqtool", then start a new shell
#      or: source <(mqtool completion zsh) after compinit
`)
	root.walk(func(n *compNode) {
		fmt.Fprintf(b, "\n%s() {\n", zshFunc(n.path))
		var specs []string
		for _, f := range n.flags {
			excl := ""
			if f.multi {
				excl = "*"
			} else if len(f.names) > 1 {
				excl = "(" + strings.Join(f.names, " ") + ")"
			}
			for _, name := range f.names {
				spec := excl + name
				if f.value.kind != valueNone && strings.HasPrefix(name, "--") {
					// The value may follow as the next word or after "=".
					spec += "="
				}
				spec += "[" + zshEscape(f.usage) + "]"
				if f.value.kind != valueNone {
					msg := strings.TrimLeft(f.names[0], "-")
					spec += ":" + msg + ":" + zshAction(f.value)
				}
				specs = append(specs, shSingle(spec))
			}
		}
		if len(n.children) == 0 {
			if n.args.kind != valueNone {
				specs = append(specs, shSingle("*:argument:"+zshAction(n.args)))
			}
			b.WriteString("    _arguments")
			for _, s := range specs {
				b.WriteString(" \\\n        " + s)
			}
			b.WriteString("\n}\n")
			return
		}
		b.WriteString("    local curcontext=\"$curcontext\" state state_descr line ret=1\n")
		b.WriteString("    typeset -A opt_args\n")
		b.WriteString("    _arguments -C")
		for _, s := range specs {
			b.WriteString(" \\\n        " + s)
		}
		b.WriteString(" \\\n        '1: :->command' \\\n        '*:: :->args' && ret=0\n")
		b.WriteString("    case $state in\n    command)\n        local -a cmds=(\n")
		for _, c := range n.children {
			fmt.Fprintf(b, "            %s\n", shSingle(zshEscape(c.name)+":"+zshEscape(c.usage)))
		}
		fmt.Fprintf(b, "        )\n        _describe -t commands %s cmds && ret=0 ;;\n", shSingle(strings.TrimSpace("mqtool "+n.path)+" command"))
		b.WriteString("    args)\n        curcontext=\"${curcontext%:*:*}:mqtool-$words[1]:\"\n        case $words[1] in\n")
		for _, c := range n.children {
			pats := append([]string{c.name}, c.aliases...)
			fmt.Fprintf(b, "        (%s) %s && ret=0 ;;\n", strings.Join(pats, "|"), zshFunc(c.path))
		}
		b.WriteString("        esac ;;\n    esac\n    return ret\n}\n")
	})
	b.WriteString(`
if [[ $funcstack[1] == _mqtool ]]; then
    _mqtool "$@"
else
    compdef _mqtool mqtool
fi
`)
}

// fishQuote single-quotes s for fish.
func fishQuote(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

func writeFish(b *strings.Builder, root *compNode) {
	fmt.Fprintf(b, "# fish completion for mqtool. "+generatedBy+"\n", "fish")
	b.WriteString(`# Install: mqtool completion fish > ~/.config/fish/completions/mqtool.fish

# __mqtool_command PATH WORD prints the name of the subcommand WORD (a name or
# an alias) of the command at PATH, or nothing.
function __mqtool_command -a path word
    switch "$path|$word"
`)
	root.walk(func(n *compNode) {
		for _, c := range n.children {
			var pats []string
			for _, name := range append([]string{c.name}, c.aliases...) {
				pats = append(pats, fishQuote(n.path+"|"+name))
			}
			fmt.Fprintf(b, "        case %s\n            echo %s\n", strings.Join(pats, " "), fishQuote(c.name))
		}
	})
	b.WriteString(`    end
end

# __mqtool_takes_value PATH FLAG succeeds when FLAG of the command at PATH
# takes a value.
function __mqtool_takes_value -a path flag
    switch "$path|$flag"
`)
	var valued []string
	root.walk(func(n *compNode) {
		for _, f := range n.flags {
			if f.value.kind != valueNone {
				for _, name := range f.names {
					valued = append(valued, fishQuote(n.path+"|"+name))
				}
			}
		}
	})
	if len(valued) > 0 {
		fmt.Fprintf(b, "        case %s\n            return 0\n", strings.Join(valued, " "))
	}
	b.WriteString(`    end
    return 1
end

# __mqtool_path prints the command path on the command line: "", "pub",
# "bench conn".
function __mqtool_path
    set -l tokens (commandline -opc)
    set -e tokens[1]
    set -l path ''
    set -l skip 0
    for t in $tokens
        if test $skip = 1
            set skip 0
            continue
        end
        switch $t
            case '--'
                break
            case '-*=*'
            case '-?*'
                if __mqtool_takes_value "$path" $t
                    set skip 1
                end
            case '*'
                set -l c (__mqtool_command "$path" $t)
                if test -n "$c"
                    set path (string trim -- "$path $c")
                end
        end
    end
    echo $path
end

# __mqtool_at PATH succeeds when the command line is at the command PATH.
function __mqtool_at -a want
    set -l path (__mqtool_path)
    test "$path" = "$want"
end

complete -c mqtool -f
`)
	root.walk(func(n *compNode) {
		cond := fishQuote("__mqtool_at " + fishQuote(n.path))
		for _, c := range n.children {
			fmt.Fprintf(b, "complete -c mqtool -n %s -a %s -d %s\n", cond, fishQuote(c.name), fishQuote(c.usage))
		}
		for _, f := range n.flags {
			line := "complete -c mqtool -n " + cond
			for _, name := range f.names {
				if strings.HasPrefix(name, "--") {
					line += " -l " + fishQuote(strings.TrimPrefix(name, "--"))
				} else {
					line += " -s " + fishQuote(strings.TrimPrefix(name, "-"))
				}
			}
			line += fishValue(f.value)
			if f.usage != "" {
				line += " -d " + fishQuote(f.usage)
			}
			b.WriteString(line + "\n")
		}
		if n.args.kind != valueNone && len(n.children) == 0 {
			switch n.args.kind {
			case valueWords:
				fmt.Fprintf(b, "complete -c mqtool -n %s -a %s\n", cond, fishQuote(strings.Join(n.args.words, " ")))
			case valueFile:
				fmt.Fprintf(b, "complete -c mqtool -n %s -F\n", cond)
			case valueDir:
				fmt.Fprintf(b, "complete -c mqtool -n %s -a '(__fish_complete_directories)'\n", cond)
			}
		}
	})
}

func fishValue(v valueSpec) string {
	switch v.kind {
	case valueWords:
		return " -x -a " + fishQuote(strings.Join(v.words, " "))
	case valueFile:
		return " -r -F"
	case valueDir:
		return " -x -a '(__fish_complete_directories)'"
	case valueFree:
		return " -x"
	}
	return ""
}

// psQuote single-quotes s for PowerShell.
func psQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func psList(items []string) string {
	q := make([]string, len(items))
	for i, s := range items {
		q[i] = psQuote(s)
	}
	return "@(" + strings.Join(q, ", ") + ")"
}

func writePowerShell(b *strings.Builder, root *compNode) {
	fmt.Fprintf(b, "# PowerShell completion for mqtool. "+generatedBy+"\n", "powershell")
	b.WriteString(`# Install: mqtool completion powershell | Out-String | Invoke-Expression
#          (add that line to $PROFILE to keep it)

Register-ArgumentCompleter -Native -CommandName mqtool -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    # Keys are case-sensitive: -v and -V are different flags.
    $commands = [System.Collections.Hashtable]::new([System.StringComparer]::Ordinal)
    $children = [System.Collections.Hashtable]::new([System.StringComparer]::Ordinal)
    $flags = [System.Collections.Hashtable]::new([System.StringComparer]::Ordinal)
    $values = [System.Collections.Hashtable]::new([System.StringComparer]::Ordinal)
    $arguments = [System.Collections.Hashtable]::new([System.StringComparer]::Ordinal)
`)
	root.walk(func(n *compNode) {
		if len(n.children) > 0 {
			fmt.Fprintf(b, "    $commands[%s] = %s\n", psQuote(n.path), psList(n.childNames()))
		}
		for _, c := range n.children {
			for _, name := range append([]string{c.name}, c.aliases...) {
				fmt.Fprintf(b, "    $children[%s] = %s\n", psQuote(n.path+"|"+name), psQuote(c.name))
			}
		}
		if len(n.flags) > 0 {
			fmt.Fprintf(b, "    $flags[%s] = %s\n", psQuote(n.path), psList(n.flagNames()))
		}
		for _, f := range n.flags {
			if f.value.kind == valueNone {
				continue
			}
			for _, name := range f.names {
				fmt.Fprintf(b, "    $values[%s] = %s\n", psQuote(n.path+"|"+name), psQuote(specString(f.value)))
			}
		}
		if n.args.kind != valueNone {
			fmt.Fprintf(b, "    $arguments[%s] = %s\n", psQuote(n.path), psQuote(specString(n.args)))
		}
	})
	b.WriteString(`
    $tokens = @($commandAst.CommandElements |
        Where-Object { $_.Extent.EndOffset -le $cursorPosition } |
        ForEach-Object { $_.Extent.Text })
    if ($wordToComplete -ne '' -and $tokens.Count -gt 0) {
        $tokens = @($tokens | Select-Object -First ($tokens.Count - 1))
    }
    $path = ''
    $expect = $null
    $dashdash = $false
    for ($i = 1; $i -lt $tokens.Count; $i++) {
        $t = $tokens[$i]
        if ($dashdash) { continue }
        if ($null -ne $expect) { $expect = $null; continue }
        if ($t -ceq '--') { $dashdash = $true; continue }
        if ($t.StartsWith('-')) {
            if (-not $t.Contains('=') -and $values.ContainsKey("$path|$t")) { $expect = $values["$path|$t"] }
            continue
        }
        if ($children.ContainsKey("$path|$t")) { $path = ("$path " + $children["$path|$t"]).Trim() }
    }

    $word = $wordToComplete
    $prefix = ''
    $spec = $null
    $isValue = $false
    if ($null -ne $expect) {
        $spec = $expect
        $isValue = $true
    } elseif (-not $dashdash -and $word -clike '-*=*') {
        $eq = $word.IndexOf('=')
        $spec = $values["$path|" + $word.Substring(0, $eq)]
        $prefix = $word.Substring(0, $eq + 1)
        $word = $word.Substring($eq + 1)
        $isValue = $true
    }
    $candidates = $null
    if ($isValue) {
        if ($spec -clike 'words *') { $candidates = $spec.Substring(6).Split(' ') }
    } elseif (-not $dashdash -and $word.StartsWith('-')) {
        $candidates = $flags[$path]
    } elseif (-not $dashdash -and $commands.ContainsKey($path)) {
        $candidates = $commands[$path]
    } else {
        $spec = $arguments[$path]
        if ($spec -clike 'words *') { $candidates = $spec.Substring(6).Split(' ') }
    }
    # Nothing to offer: free text, or a path, which PowerShell then completes.
    if ($null -eq $candidates) { return }
    $candidates |
        Where-Object { $_.StartsWith($word, [System.StringComparison]::Ordinal) } |
        ForEach-Object {
            [System.Management.Automation.CompletionResult]::new($prefix + $_, $_, 'ParameterValue', $_)
        }
}
`)
}
