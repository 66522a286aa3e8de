package commands

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/urfave/cli/v2"

	"github.com/mqtool/mqtool/format"
)

// completionFiles are the checked-in scripts, by shell.
var completionFiles = map[string]string{
	"bash":       "../completions/mqtool.bash",
	"zsh":        "../completions/mqtool.zsh",
	"fish":       "../completions/mqtool.fish",
	"powershell": "../completions/mqtool.ps1",
}

func testStreams() (*format.Streams, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &format.Streams{In: strings.NewReader(""), Out: &out, Err: &errb}, &out, &errb
}

// realApp is the command tree the binary runs.
func realApp() *cli.App {
	s, _, _ := testStreams()
	return App(s)
}

// fakeApp is a small tree that always has the commands and flags the exact
// completion cases below need, whatever commands exist in the real tree.
func fakeApp() *cli.App {
	return &cli.App{
		Name:  "mqtool",
		Usage: "an MQTT toolkit",
		Commands: []*cli.Command{
			{Name: "serve", Usage: "run the broker", UsageText: "mqtool serve [--listen ADDR] [options]\nmqtool  serve --help\nServes until stopped.", Flags: []cli.Flag{
				&cli.StringFlag{Name: "listen", Usage: "listen on `ADDR`", Value: "127.0.0.1:1883", Category: "Connection"},
				&cli.StringFlag{Name: "color", Value: "auto", Usage: "colour output: auto, always or never", Category: "Output"},
				&cli.IntFlag{Name: "port", Aliases: []string{"p"}, Usage: "TCP port", Category: "Connection"},
				&cli.StringFlag{Name: "log-file", Usage: "log to `FILE`", Category: "Output"},
				&cli.StringFlag{Name: "store", Usage: "keep sessions in `DIR`", Category: "Output"},
			}},
			{Name: "sub", Usage: "subscribe and print messages", Flags: []cli.Flag{
				&cli.IntFlag{Name: "qos", Aliases: []string{"q"}, Usage: "quality of service [0-2]: it's \"QoS\""},
				&cli.StringSliceFlag{Name: "topic", Aliases: []string{"t"}, Usage: "subscribe to `TOPIC`"},
				&cli.BoolFlag{Name: "remove-retained", Usage: "clear retained messages"},
				&cli.BoolFlag{Name: "retained-only", Usage: "print only retained messages"},
				&cli.BoolFlag{Name: "retain-as-published", Usage: "v5 retain as published"},
				&cli.StringFlag{Name: "retain-handling", Usage: "v5 retain handling"},
				&cli.StringFlag{Name: "protocol-version", Aliases: []string{"V"}, Usage: "MQTT version"},
				&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "print topics"},
				&cli.StringFlag{Name: "cafile", Usage: "CA `FILE`"},
				&cli.StringFlag{Name: "capath", Usage: "CA directory"},
				&cli.StringFlag{Name: "message", Aliases: []string{"m"}, Usage: "payload"},
				&cli.BoolFlag{Name: "secret", Hidden: true},
			}},
			{Name: "bench", Usage: "load generator", UsageText: "mqtool bench [options]\nmqtool bench conn [options]\nmqtool bench connections", Flags: []cli.Flag{
				&cli.StringFlag{Name: "pattern", Usage: "traffic pattern"},
				&cli.StringFlag{Name: "hgrm", Usage: "write histograms to `DIR`"},
			}, Subcommands: []*cli.Command{
				{Name: "conn", Aliases: []string{"connections"}, Usage: "connection storm"},
				{Name: "merge", Usage: "merge histograms", ArgsUsage: "FILE..."},
			}},
			{Name: "secret-cmd", Hidden: true},
		},
	}
}

func TestCompletionFilesUpToDate(t *testing.T) {
	for shell, file := range completionFiles {
		t.Run(shell, func(t *testing.T) {
			want, err := completionScript(realApp(), shell)
			if err != nil {
				t.Fatalf("completionScript(%q) error: %v", shell, err)
			}
			got, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v: run scripts/generate.sh", err)
			}
			if string(got) != want {
				t.Errorf("%s differs from `mqtool completion %s`: run scripts/generate.sh\n%s",
					strings.TrimPrefix(file, "../"), shell, shortDiff(want, string(got)))
			}
		})
	}
}

// shortDiff is the start of the diff between two generated files: enough
// to see what changed.
func shortDiff(want, got string) string {
	lines := strings.SplitAfter(cmp.Diff(want, got), "\n")
	if len(lines) > 40 {
		lines = append(lines[:40], "...\n")
	}
	return "(-want +got):\n" + strings.Join(lines, "")
}

func TestCompletionCommand(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantOut  string // a line the output must contain
		wantErr  string // stderr must be exactly this
	}{
		{name: "bash", args: []string{"bash"}, wantOut: "complete -F _mqtool mqtool"},
		{name: "zsh", args: []string{"zsh"}, wantOut: "#compdef mqtool"},
		{name: "fish", args: []string{"fish"}, wantOut: "complete -c mqtool -f"},
		{name: "powershell", args: []string{"powershell"}, wantOut: "Register-ArgumentCompleter -Native -CommandName mqtool -ScriptBlock {"},
		{name: "unknown shell", args: []string{"tcsh"}, wantCode: 1,
			wantErr: "Error: completion: unknown shell \"tcsh\": want one of bash, zsh, fish, powershell\n"},
		{name: "no shell", args: nil, wantCode: 1,
			wantErr: "Error: give one shell: bash, zsh, fish, powershell\nUse 'mqtool completion --help' to see usage.\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, out, errb := testStreams()
			args := append([]string{"mqtool", "completion"}, tt.args...)
			code := Main(context.Background(), args, s)
			if code != tt.wantCode {
				t.Errorf("Main(%q) = %d, want %d (stderr %q)", args, code, tt.wantCode, errb)
			}
			if tt.wantCode == 0 && !strings.Contains(out.String(), tt.wantOut+"\n") {
				t.Errorf("Main(%q) stdout lacks %q", args, tt.wantOut)
			}
			if tt.wantCode != 0 && errb.String() != tt.wantErr {
				t.Errorf("Main(%q) stderr = %q, want %q", args, errb, tt.wantErr)
			}
		})
	}
}

func writeScript(t *testing.T, app *cli.App, shell string) string {
	t.Helper()
	script, err := completionScript(app, shell)
	if err != nil {
		t.Fatalf("completionScript(%q) error: %v", shell, err)
	}
	path := filepath.Join(t.TempDir(), "mqtool."+shell)
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func apps() []struct {
	name string
	app  func() *cli.App
} {
	return []struct {
		name string
		app  func() *cli.App
	}{{"real", realApp}, {"fake", fakeApp}}
}

func TestCompletionSyntax(t *testing.T) {
	tests := []struct {
		shell string
		args  []string // the script path is appended
	}{
		{"bash", []string{"--norc", "--noprofile", "-n"}},
		{"zsh", []string{"-f", "-n"}},
		{"fish", []string{"--no-execute"}},
	}
	for _, tt := range tests {
		for _, a := range apps() {
			t.Run(tt.shell+"/"+a.name, func(t *testing.T) {
				bin := lookShell(t, tt.shell)
				path := writeScript(t, a.app(), tt.shell)
				out, err := exec.Command(bin, append(tt.args, path)...).CombinedOutput()
				if err != nil || len(out) > 0 {
					t.Errorf("%s %s: %v\n%s", tt.shell, strings.Join(tt.args, " "), err, out)
				}
			})
		}
	}
}

// lookShell finds a shell; bash must be there, the others skip with a reason.
func lookShell(t *testing.T, shell string) string {
	t.Helper()
	bin, err := exec.LookPath(shell)
	if err != nil {
		if shell == "bash" {
			t.Fatalf("bash not found: %v", err)
		}
		t.Skipf("%s not installed (apt-get install %s): cannot check the %s script", shell, shell, shell)
	}
	return bin
}

// pwshParse parses the file named by its argument and prints any errors.
const pwshParse = `$errs = $null
[void][System.Management.Automation.Language.Parser]::ParseFile($args[0], [ref]$null, [ref]$errs)
if ($errs) { $errs | ForEach-Object { "$($_.Extent.StartLineNumber): $($_.Message)" }; exit 1 }
`

func TestPowerShellSyntax(t *testing.T) {
	pwsh, err := exec.LookPath("pwsh")
	if err != nil {
		t.Skip("pwsh not installed: cannot parse the PowerShell script")
	}
	check := filepath.Join(t.TempDir(), "parse.ps1")
	if err := os.WriteFile(check, []byte(pwshParse), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, a := range apps() {
		t.Run(a.name, func(t *testing.T) {
			path := writeScript(t, a.app(), "powershell")
			out, err := exec.Command(pwsh, "-NoProfile", "-NonInteractive", "-File", check, path).CombinedOutput()
			if err != nil || len(out) > 0 {
				t.Errorf("pwsh parse: %v\n%s", err, out)
			}
		})
	}
}

func TestZshRegisters(t *testing.T) {
	zsh := lookShell(t, "zsh")
	for _, a := range apps() {
		t.Run(a.name, func(t *testing.T) {
			path := writeScript(t, a.app(), "zsh")
			home := t.TempDir()
			cmd := exec.Command(zsh, "-f", "-c",
				`autoload -Uz compinit && compinit -u -d "$HOME/.zcompdump" && source "$1" && print -r -- "$_comps[mqtool]" && whence -w _mqtool`, "zsh", path)
			cmd.Env = append(os.Environ(), "HOME="+home)
			out, err := cmd.CombinedOutput()
			got := string(out)
			if want := "_mqtool\n_mqtool: function\n"; err != nil || got != want {
				t.Errorf("sourcing the zsh script after compinit: %v\n%q, want %q (_comps[mqtool] and the function)", err, got, want)
			}
		})
	}
}

// compCase is one TAB press: words is the command line, the last word the
// one being completed.
type compCase struct {
	name   string
	words  []string
	want   []string
	exact  bool     // the completions must be exactly want, else include want
	absent []string // none of these may be offered
}

func (c compCase) check(t *testing.T, shell string, got []string) {
	t.Helper()
	for _, p := range c.problems(shell, got) {
		t.Error(p)
	}
}

// problems says how got differs from what c wants.
func (c compCase) problems(shell string, got []string) []string {
	got = slices.Sorted(slices.Values(got))
	want := slices.Sorted(slices.Values(c.want))
	line := strings.Join(c.words, " ")
	if c.exact {
		if diff := cmp.Diff(want, got, cmpEmpty); diff != "" {
			return []string{fmt.Sprintf("%s: %q<TAB> mismatch (-want +got):\n%s", shell, line, diff)}
		}
		return nil
	}
	var ps []string
	for _, a := range c.absent {
		if slices.Contains(got, a) {
			ps = append(ps, fmt.Sprintf("%s: %q<TAB> = %q, want it without %q", shell, line, got, a))
		}
	}
	for _, w := range want {
		if !slices.Contains(got, w) {
			ps = append(ps, fmt.Sprintf("%s: %q<TAB> = %q, want it to include %q", shell, line, got, w))
		}
	}
	return ps
}

var cmpEmpty = cmp.Transformer("nilEmpty", func(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
})

const sep = "\x1e"

// bashComplete sources the bash script and presses TAB once per case, in
// dir, by setting COMP_WORDS and COMP_CWORD and calling the completion
// function as bash does. It returns COMPREPLY per case.
func bashComplete(t *testing.T, script, dir string, cases []compCase) [][]string {
	t.Helper()
	var b strings.Builder
	b.WriteString(`source "$1" || exit 1
complete -p mqtool | grep -q -- '-F _mqtool' || { echo "complete -p mqtool: not registered" >&2; exit 1; }
press() {
    COMP_WORDS=("$@")
    COMP_CWORD=$(($# - 1))
    COMP_LINE="$*"
    COMP_POINT=${#COMP_LINE}
    COMPREPLY=()
    _mqtool mqtool "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    local r
    for r in "${COMPREPLY[@]}"; do printf '%s\n' "$r"; done
    printf '\036\n'
}
`)
	for _, c := range cases {
		b.WriteString("press")
		for _, w := range c.words {
			b.WriteString(" " + shSingle(w))
		}
		b.WriteString("\n")
	}
	cmd := exec.Command("bash", "--norc", "--noprofile", "-c", b.String(), "bash", script)
	cmd.Dir = dir
	return runPresses(t, cmd, len(cases))
}

// fishComplete asks fish for completions of each case with complete -C.
func fishComplete(t *testing.T, fish, script, dir string, cases []compCase) [][]string {
	t.Helper()
	var b strings.Builder
	b.WriteString("source $argv[1]; or exit 1\n")
	for _, c := range cases {
		fmt.Fprintf(&b, "complete -C %s | string replace -r '\\t.*' ''\nprintf '\\x1e\\n'\n", fishQuote(strings.Join(c.words, " ")))
	}
	home := t.TempDir()
	cmd := exec.Command(fish, "--no-config", "-c", b.String(), script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+home, "XDG_DATA_HOME="+home)
	return runPresses(t, cmd, len(cases))
}

func runPresses(t *testing.T, cmd *exec.Cmd, n int) [][]string {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("%s: %v\nstderr: %s", cmd.Args[0], err, stderr.String())
	}
	parts := strings.Split(string(out), sep+"\n")
	if len(parts) != n+1 {
		t.Fatalf("%s printed %d replies for %d cases:\n%s", cmd.Args[0], len(parts)-1, n, out)
	}
	res := make([][]string, n)
	for i := range res {
		for _, line := range strings.Split(parts[i], "\n") {
			if line != "" {
				res[i] = append(res[i], line)
			}
		}
	}
	return res
}

// zshInit runs in the interactive zsh under test: it loads the script,
// records every match the completion functions add, and binds ^T to
// complete and then print the matches between @@start and @@N (^X would
// be a prefix key and wait for KEYTIMEOUT).
const zshInit = `autoload -Uz compinit && compinit -u -d "$HOME/.zcompdump" || exit 1
source "$MQTOOL_SCRIPT" || exit 1
PS1='> '
# No lists: a long one would ask "do you wish to see all N possibilities?"
# and eat the next keys.
unsetopt autolist listambiguous
LISTMAX=100000
compadd() {
    if (( ${@[(I)-[OAD]*]} )); then builtin compadd "$@"; return; fi
    local -a hits
    builtin compadd -O hits "$@"
    _hits+=("${hits[@]}")
    builtin compadd "$@"
}
_t() {
    _hits=()
    zle complete-word
    zle -I
    print -rl -- '' @@start "${(@u)_hits}" @@$((++_n))
}
zle -N _t
bindkey '^T' _t
`

// zshDriver types each line and ^T into an interactive zsh in a pseudo
// terminal (zsh/zpty) and prints the matches, each case ended by "@@N".
const zshDriver = `zmodload zsh/zpty || exit 1
zpty z 'zsh -f -i' || exit 1
zpty -w z "source ${(q)1}; print -r -- @@\"\"0"
shift
integer i=0 deadline
local buf chunk line
await() {
    deadline=$(( SECONDS + 20 ))
    while [[ $buf != *$'\n'@@$1$'\r'* ]]; do
        (( SECONDS < deadline )) || { print -u2 "zsh: no @@$1 within 20s: $buf"; exit 1; }
        if zpty -rt z chunk 2>/dev/null; then buf+=$chunk; else sleep 0.05; fi
    done
}
buf=''
await 0
for line in "$@"; do
    (( i++ ))
    buf=''
    zpty -w -n z "$line"$'\C-t'
    await $i
    buf=${buf%%$'\n'@@$i$'\r'*}
    buf=${buf##*@@start}
    print -r -- "${buf#$'\r\n'}" | tr -d '\r'
    print -r -- $'\x1e'
    zpty -w -n z $'\C-u'
done
zpty -d z
`

// zshComplete asks an interactive zsh for completions of each case. Cases
// whose answer is wrong are asked once more in a new zsh, and the test log
// says so: under heavy load (the whole suite on two busy cores) the pty
// driving zsh has twice given one case no matches at all, a different case
// each time, while the script is static and answers it in any other run.
func zshComplete(t *testing.T, zsh, script, dir string, cases []compCase) [][]string {
	t.Helper()
	got := zshAsk(t, zsh, script, dir, cases)
	var again []int
	for i, c := range cases {
		if len(c.problems("zsh", got[i])) > 0 {
			again = append(again, i)
		}
	}
	if len(again) == 0 {
		return got
	}
	var retry []compCase
	for _, i := range again {
		t.Logf("zsh: %q<TAB> gave %q; asking a new zsh once more", strings.Join(cases[i].words, " "), got[i])
		retry = append(retry, cases[i])
	}
	for j, g := range zshAsk(t, zsh, script, dir, retry) {
		got[again[j]] = g
	}
	return got
}

// zshAsk runs one interactive zsh through a pty for the cases.
func zshAsk(t *testing.T, zsh, script, dir string, cases []compCase) [][]string {
	t.Helper()
	tmp := t.TempDir()
	init := filepath.Join(tmp, "init.zsh")
	driver := filepath.Join(tmp, "driver.zsh")
	if err := os.WriteFile(init, []byte(zshInit), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(driver, []byte(zshDriver), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-f", driver, init}
	for _, c := range cases {
		args = append(args, strings.Join(c.words, " "))
	}
	cmd := exec.Command(zsh, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+tmp, "MQTOOL_SCRIPT="+script)
	return runPresses(t, cmd, len(cases))
}

// fixtureDir holds a file and a directory for path completion.
func fixtureDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "certs"), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fakeCases are the exact cases of the issue, on the fake tree.
var fakeCases = []compCase{
	{name: "commands", words: []string{"mqtool", "s"}, want: []string{"serve", "sub"}, exact: true},
	{name: "all commands", words: []string{"mqtool", ""}, want: []string{"serve", "sub", "bench"}, exact: true},
	{name: "sub --re", words: []string{"mqtool", "sub", "--re"},
		want: []string{"--remove-retained", "--retained-only", "--retain-as-published", "--retain-handling"}, exact: true},
	{name: "hidden flag", words: []string{"mqtool", "sub", "--se"}, exact: true},
	{name: "qos short", words: []string{"mqtool", "sub", "-q", ""}, want: []string{"0", "1", "2"}, exact: true},
	{name: "qos long prefix", words: []string{"mqtool", "sub", "--qos", "1"}, want: []string{"1"}, exact: true},
	{name: "protocol version", words: []string{"mqtool", "sub", "-V", "mqtt"}, want: []string{"mqttv31", "mqttv311", "mqttv5"}, exact: true},
	{name: "-v is not -V", words: []string{"mqtool", "sub", "-v", ""}, absent: []string{"31", "mqttv5"}},
	{name: "retain handling", words: []string{"mqtool", "sub", "--retain-handling", ""}, want: []string{"always", "new", "never"}, exact: true},
	{name: "color", words: []string{"mqtool", "serve", "--color", ""}, want: []string{"auto", "always", "never"}, exact: true},
	{name: "free value", words: []string{"mqtool", "sub", "-m", ""}, exact: true},
	{name: "file value", words: []string{"mqtool", "sub", "--cafile", ""}, want: []string{"ca.pem", "certs"}, exact: true},
	{name: "dir value", words: []string{"mqtool", "sub", "--capath", ""}, want: []string{"certs"}, exact: true},
	{name: "value that looks like a flag", words: []string{"mqtool", "sub", "-t", "--re", "--retained"}, want: []string{"--retained-only"}, exact: true},
	{name: "sub-subcommands", words: []string{"mqtool", "bench", ""}, want: []string{"conn", "merge"}, exact: true},
	{name: "value skipped", words: []string{"mqtool", "bench", "--pattern", "conn", "m"}, want: []string{"merge"}, exact: true},
	{name: "pattern", words: []string{"mqtool", "bench", "--pattern", ""}, want: []string{"pair", "fan-in", "fan-out"}, exact: true},
	{name: "FILE placeholder", words: []string{"mqtool", "serve", "--log-file", ""}, want: []string{"ca.pem", "certs"}, exact: true},
	{name: "DIR placeholder", words: []string{"mqtool", "serve", "--store", "c"}, want: []string{"certs"}, exact: true},
	{name: "hgrm dir", words: []string{"mqtool", "bench", "--hgrm", ""}, want: []string{"certs"}, exact: true},
	{name: "alias", words: []string{"mqtool", "bench", "connections", "--"}, want: []string{"--help"}, exact: true},
	{name: "file arguments", words: []string{"mqtool", "bench", "merge", "c"}, want: []string{"ca.pem", "certs"}, exact: true},
	{name: "hidden command", words: []string{"mqtool", "sec"}, exact: true},
}

// bashOnlyCases depend on how bash splits words at "=".
var bashOnlyCases = []compCase{
	{name: "split --qos=", words: []string{"mqtool", "sub", "--qos", "="}, want: []string{"0", "1", "2"}, exact: true},
	{name: "split --qos=1", words: []string{"mqtool", "sub", "--qos", "=", "1"}, want: []string{"1"}, exact: true},
	{name: "unsplit --qos=", words: []string{"mqtool", "sub", "--qos="}, want: []string{"--qos=0", "--qos=1", "--qos=2"}, exact: true},
	{name: "after --qos=1", words: []string{"mqtool", "sub", "--qos", "=", "1", "--retained-"}, want: []string{"--retained-only"}, exact: true},
}

func TestBashCompletionFake(t *testing.T) {
	cases := append(append([]compCase(nil), fakeCases...), bashOnlyCases...)
	script := writeScript(t, fakeApp(), "bash")
	got := bashComplete(t, script, fixtureDir(t), cases)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.check(t, "bash", got[i]) })
	}
}

// fishOnlyCases: fish completes "--flag=" words with the flag in front.
var fishOnlyCases = []compCase{
	{name: "--qos=", words: []string{"mqtool", "sub", "--qos="}, want: []string{"--qos=0", "--qos=1", "--qos=2"}, exact: true},
	{name: "--cafile=", words: []string{"mqtool", "sub", "--cafile=ca"}, want: []string{"--cafile=ca.pem"}, exact: true},
	{name: "after --qos=1", words: []string{"mqtool", "sub", "--qos=1", "--retained-"}, want: []string{"--retained-only"}, exact: true},
}

func TestFishCompletionFake(t *testing.T) {
	fish := lookShell(t, "fish")
	script := writeScript(t, fakeApp(), "fish")
	cases := append(append([]compCase(nil), fakeCases...), fishOnlyCases...)
	got := fishComplete(t, fish, script, fixtureDir(t), cases)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.check(t, "fish", fishPaths(got[i])) })
	}
}

// zshOnlyCases: zsh completes a long flag's value after "=" in one word.
var zshOnlyCases = []compCase{
	{name: "--qos=", words: []string{"mqtool", "sub", "--qos="}, want: []string{"0", "1", "2"}, exact: true},
	{name: "--cafile=", words: []string{"mqtool", "sub", "--cafile=c"}, want: []string{"ca.pem", "certs"}, exact: true},
	{name: "after --qos=1", words: []string{"mqtool", "sub", "--qos=1", "--retained-"}, want: []string{"--retained-only"}, exact: true},
}

func TestZshCompletionFake(t *testing.T) {
	zsh := lookShell(t, "zsh")
	script := writeScript(t, fakeApp(), "zsh")
	cases := append(append([]compCase(nil), fakeCases...), zshOnlyCases...)
	got := zshComplete(t, zsh, script, fixtureDir(t), cases)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.check(t, "zsh", got[i]) })
	}
}

// fishPaths drops the trailing slash fish puts on directories.
func fishPaths(got []string) []string {
	out := make([]string, len(got))
	for i, g := range got {
		out[i] = strings.TrimSuffix(g, "/")
	}
	return out
}

// issueValues are the fixed values the issue asks for, by flag name.
var issueValues = map[string][]string{
	"qos":              {"0", "1", "2"},
	"protocol-version": {"31", "311", "5", "mqttv31", "mqttv311", "mqttv5"},
	"color":            {"auto", "always", "never"},
	"retain-handling":  {"always", "new", "never"},
	"tls-version":      {"tlsv1.2", "tlsv1.3"},
	"pattern":          {"pair", "fan-in", "fan-out"},
}

// issuePaths are the flags that complete paths, by flag name: want is what
// the fixture directory offers.
var issuePaths = map[string][]string{
	"cafile": {"ca.pem", "certs"}, "cert": {"ca.pem", "certs"}, "key": {"ca.pem", "certs"},
	"file": {"ca.pem", "certs"}, "pw-file": {"ca.pem", "certs"}, "o": {"ca.pem", "certs"},
	"unix": {"ca.pem", "certs"}, "hgrm": {"certs"}, "capath": {"certs"},
}

// treeCases derives cases from app's command tree: every subcommand, every
// flag, and the fixed values and paths of the flags above.
func treeCases(app *cli.App) []compCase {
	var cases []compCase
	var visit func(path []string, cmds []*cli.Command, flags []cli.Flag, extra []string)
	visit = func(path []string, cmds []*cli.Command, flags []cli.Flag, extra []string) {
		line := append([]string{"mqtool"}, path...)
		at := func(words ...string) []string { return append(append([]string(nil), line...), words...) }
		name := strings.Join(append([]string{"mqtool"}, path...), " ")
		var visible []string
		for _, c := range cmds {
			if !c.Hidden && c.Name != "help" {
				visible = append(visible, c.Name)
			}
		}
		for _, c := range visible {
			var want []string
			for _, o := range visible {
				if strings.HasPrefix(o, c[:1]) {
					want = append(want, o)
				}
			}
			cases = append(cases, compCase{name: name + " " + c[:1], words: at(c[:1]), want: want, exact: true})
		}
		longs := append([]string(nil), extra...)
		all := append([]string(nil), extra...)
		for _, f := range flags {
			if v, ok := f.(cli.VisibleFlag); ok && !v.IsVisible() {
				continue
			}
			takes := false
			if d, ok := f.(cli.DocGenerationFlag); ok {
				takes = d.TakesValue()
			}
			for _, n := range f.Names() {
				flag := "-" + n
				if len(n) > 1 {
					flag = "--" + n
					longs = append(longs, flag)
				}
				all = append(all, flag)
				if !takes {
					continue
				}
				if want, ok := issueValues[n]; ok {
					cases = append(cases, compCase{name: name + " " + flag, words: at(flag, ""), want: want, exact: true})
				}
				if want, ok := issuePaths[n]; ok {
					cases = append(cases, compCase{name: name + " " + flag + " path", words: at(flag, ""), want: want, exact: true})
				}
			}
		}
		cases = append(cases,
			compCase{name: name + " --", words: at("--"), want: longs, exact: true},
			compCase{name: name + " -", words: at("-"), want: all, exact: true})
		for _, c := range cmds {
			if !c.Hidden && c.Name != "help" {
				visit(append(append([]string(nil), path...), c.Name), c.Subcommands, c.Flags, []string{"--help"})
			}
		}
	}
	visit(nil, app.Commands, app.Flags, []string{"--help", "--version"})
	return cases
}

// issueCases are the issue's own examples on the real tree. Each runs as
// soon as the commands it names exist.
func issueCases(t *testing.T, app *cli.App) []compCase {
	has := map[string]bool{}
	for _, c := range app.Commands {
		has[c.Name] = true
	}
	var cases []compCase
	var s []string
	for _, c := range []string{"serve", "sub"} {
		if has[c] {
			s = append(s, c)
		} else {
			t.Logf("no %q command yet: mqtool s<TAB> checked without it", c)
		}
	}
	if len(s) > 0 {
		cases = append(cases, compCase{name: "issue: mqtool s", words: []string{"mqtool", "s"}, want: s})
	}
	if has["sub"] {
		cases = append(cases, compCase{name: "issue: mqtool sub --re", words: []string{"mqtool", "sub", "--re"},
			want: []string{"--remove-retained", "--retained-only", "--retain-as-published"}})
	} else {
		t.Logf("no sub command yet: mqtool sub --re<TAB> not checked")
	}
	cases = append(cases, compCase{name: "completion shells", words: []string{"mqtool", "completion", ""},
		want: shells, exact: true})
	if has["bench"] {
		cases = append(cases, compCase{name: "issue: mqtool bench", words: []string{"mqtool", "bench", ""},
			want: []string{"conn", "merge"}})
	}
	return cases
}

func TestBashCompletionTree(t *testing.T) {
	app := realApp()
	cases := append(treeCases(app), issueCases(t, app)...)
	script := writeScript(t, app, "bash")
	got := bashComplete(t, script, fixtureDir(t), cases)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.check(t, "bash", got[i]) })
	}
}

func TestZshCompletionTree(t *testing.T) {
	zsh := lookShell(t, "zsh")
	app := realApp()
	cases := append(treeCases(app), issueCases(t, app)...)
	script := writeScript(t, app, "zsh")
	got := zshComplete(t, zsh, script, fixtureDir(t), cases)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.check(t, "zsh", got[i]) })
	}
}

func TestFishCompletionTree(t *testing.T) {
	fish := lookShell(t, "fish")
	app := realApp()
	var cases []compCase
	for _, c := range append(treeCases(app), issueCases(t, app)...) {
		cases = append(cases, c)
	}
	script := writeScript(t, app, "fish")
	got := fishComplete(t, fish, script, fixtureDir(t), cases)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) { c.check(t, "fish", fishPaths(got[i])) })
	}
}

// The scripts beside generate.sh: each parses, and prints a usage line and
// fails on an unknown argument.
func TestScriptsUsage(t *testing.T) {
	for _, name := range []string{"generate.sh", "smoke.sh", "bench-clients.sh"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("..", "scripts", name)
			if out, err := exec.Command("bash", "-n", path).CombinedOutput(); err != nil {
				t.Fatalf("bash -n %s: %v\n%s", name, err, out)
			}
			cmd := exec.Command("bash", path, "--no-such-flag")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 2 {
				t.Errorf("%s --no-such-flag: %v, want exit status 2", name, err)
			}
			if !strings.HasPrefix(stderr.String(), "usage: ") {
				t.Errorf("%s --no-such-flag stderr = %q, want a usage line", name, stderr.String())
			}
		})
	}
}

// TestSmokeScript runs scripts/smoke.sh as CI would: it builds mqtool from
// this checkout, starts serve and round-trips a message at each QoS.
func TestSmokeScript(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: scripts/smoke.sh builds mqtool")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join("..", "scripts", "smoke.sh"))
	cmd.Env = append(os.Environ(), "MQTOOL=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/smoke.sh: %v\n%s", err, out)
	}
	for _, want := range []string{"smoke: qos 0: ok\n", "smoke: qos 1: ok\n", "smoke: qos 2: ok\n", "smoke: PASS\n"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("scripts/smoke.sh output lacks %q:\n%s", want, out)
		}
	}
}
