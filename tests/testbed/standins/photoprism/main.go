// Stand-in for PhotoPrism's CLI (tests only; the real image cannot be had
// here). Built on the same parser as the real photoprism, urfave/cli v1
// (Debian's golang-github-urfave-cli-dev), with the real index, import
// (mv) and status commands and flags, so an argv is understood exactly as
// the real CLI would understand it. main() only logs app.Run's error, like
// cmd/photoprism/photoprism.go: errors exit 0, an unknown command exits 3
// (urfave/cli's "No help topic"). The work is done on a small scale:
// index walks the originals, import moves files into them.
//
// Sources read (see tests/testbed/README.md, "Stand-ins"): photoprism
// cmd/photoprism/photoprism.go, internal/commands/{index,import,status}.go,
// internal/config/flags.go, internal/config/config_storage.go,
// internal/photoprism/{index,import,import_worker}.go, internal/event,
// pkg/clean/{path,log}.go, docker/photoprism/bookworm/Dockerfile.
//
// Test hooks (folder names given to index): slowN folders exist with N
// files and index at 1 s per file (a slow disk); interleave alternates
// "out K" on stdout and "err K" on stderr; big-output writes 100 MiB
// ("0123456789abcde\n" repeated) to stdout; exitN exits N. The last three
// have no real equivalent (the real CLI logs to stderr and exits 0): tests
// of the transport need them.
//
// Every call appends one JSON line to NEXTPRISM_STANDIN_LOG (default
// /tmp/standin-calls.jsonl): what the parser understood, uid/gid, cwd and
// the absolute paths the command touches.
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"

	"github.com/urfave/cli"
)

// call is the JSON line written for each invocation.
var call = map[string]interface{}{}

func writeCall(exit int) {
	call["exit_code"] = exit
	file := os.Getenv("NEXTPRISM_STANDIN_LOG")
	if file == "" {
		file = "/tmp/standin-calls.jsonl"
	}
	old := syscall.Umask(0)
	f, err := os.OpenFile(file, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0666)
	syscall.Umask(old)
	if err != nil {
		return
	}
	defer f.Close()
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
	line, _ := json.Marshal(call)
	_, _ = f.Write(append(line, '\n'))
}

// logrus' TextFormatter without a terminal: time="RFC3339" level=L msg=M,
// values quoted when they hold anything but [A-Za-z0-9-._/@^+].
func quote(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune("-._/@^+", r)) {
			return fmt.Sprintf("%q", s)
		}
	}
	return s
}

func logf(level, format string, args ...interface{}) {
	msg := fmt.Sprintf(format, args...)
	fmt.Fprintf(os.Stderr, "time=%s level=%s msg=%s\n",
		quote(time.Now().Format(time.RFC3339)), level, quote(msg))
}

func infof(format string, args ...interface{})  { logf("info", format, args...) }
func errorf(format string, args ...interface{}) { logf("error", format, args...) }

// pkg/clean: Log, Path and UserPath, written after the real ones' rules.
func cleanLog(s string) string {
	if s == "" {
		return "''"
	}
	spaces := false
	s = strings.Map(func(r rune) rune {
		if r < 32 || r == 127 {
			return -1
		}
		switch r {
		case ' ':
			spaces = true
		case '`', '"':
			return '\''
		case '\\', '$', '<', '>', '{', '}':
			return '?'
		}
		return r
	}, s)
	if spaces {
		return "'" + s + "'"
	}
	return s
}

func cleanPath(s string) string {
	if s == "" || len(s) > 512 || strings.Contains(s, "..") || strings.Contains(s, "//") {
		return ""
	}
	s = strings.TrimSpace(s)
	return strings.Map(func(r rune) rune {
		if !unicode.IsPrint(r) || strings.ContainsRune("\\|\"?*%<>{}", r) {
			return -1
		}
		return r
	}, s)
}

func userPath(dir string) string {
	if dir == "" {
		return dir
	}
	dir = strings.Trim(path.Clean(cleanPath(strings.ReplaceAll(dir, "\\", "/"))), " ~./\\|?*%<>")
	if strings.Contains(dir, "/.") || strings.Contains(dir, "..") || strings.Contains(dir, "//") {
		return ""
	}
	return dir
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func abs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		return p
	}
	return a
}

// Paths as config_storage.go: flags or PHOTOPRISM_* environment, made
// absolute; the image sets the Docker image's defaults.
func originalsPath(ctx *cli.Context) string { return abs(ctx.GlobalString("originals-path")) }
func importPath(ctx *cli.Context) string    { return abs(ctx.GlobalString("import-path")) }

func isMedia(name string) bool {
	switch strings.ToLower(filepath.Ext(name)) {
	case ".jpg", ".jpeg", ".png", ".gif", ".heic", ".heif", ".webp", ".tif", ".tiff",
		".dng", ".raw", ".cr2", ".nef", ".mp4", ".mov", ".avi", ".mkv", ".xmp", ".json":
		return true
	}
	return false
}

func hooks(sub string) bool {
	switch {
	case sub == "big-output":
		chunk := []byte(strings.Repeat("0123456789abcde\n", 65536)) // 1 MiB
		for i := 0; i < 100; i++ {
			_, _ = os.Stdout.Write(chunk)
		}
	case sub == "interleave":
		for i := 1; i <= 5; i++ {
			fmt.Fprintf(os.Stdout, "out %d\n", i)
			time.Sleep(50 * time.Millisecond)
			fmt.Fprintf(os.Stderr, "err %d\n", i)
			time.Sleep(50 * time.Millisecond)
		}
	case strings.HasPrefix(sub, "exit"):
		if n, err := strconv.Atoi(sub[4:]); err == nil {
			writeCall(n)
			os.Exit(n)
		}
		return false
	default:
		return false
	}
	return true
}

func indexAction(ctx *cli.Context) error {
	start := time.Now()
	call["command"] = "index"
	call["flags"] = map[string]bool{"force": ctx.Bool("force"), "archived": ctx.Bool("archived"), "cleanup": ctx.Bool("cleanup")}
	call["args"] = []string(ctx.Args())
	subPath := strings.TrimSpace(ctx.Args().First())
	originals := originalsPath(ctx)
	target := filepath.Join(originals, subPath)
	call["paths"] = map[string]string{"originals": originals, "index": target}
	if subPath == "" {
		infof("indexing originals in %s", cleanLog(originals))
	} else {
		infof("indexing originals in %s", cleanLog(target))
	}
	if hooks(subPath) {
		return nil
	}
	var found []string
	indexStart := time.Now()
	if _, err := os.Stat(target); err != nil {
		errorf("%s", strings.ToLower(fmt.Sprintf("index: directory %s not found", cleanLog(target))))
	} else {
		slow := strings.HasPrefix(filepath.Base(target), "slow")
		_ = filepath.Walk(target, func(p string, info os.FileInfo, err error) error {
			if err != nil || info.IsDir() || strings.HasPrefix(info.Name(), ".") || !isMedia(info.Name()) {
				return nil
			}
			if slow {
				time.Sleep(time.Second)
			}
			rel, _ := filepath.Rel(originals, p)
			infof("index: added main %s file %s", strings.TrimPrefix(strings.ToLower(filepath.Ext(p)), "."), cleanLog(rel))
			found = append(found, p)
			return nil
		})
	}
	call["indexed"] = found
	infof("index: updated %s [%s]", plural(len(found), "file"), time.Since(indexStart))
	infof("indexed %s in %s", plural(len(found), "file"), time.Since(start))
	return nil
}

func importAction(ctx *cli.Context) error {
	start := time.Now()
	call["command"] = "import"
	call["flags"] = map[string]interface{}{"dest": ctx.String("dest"), "dest_set": ctx.IsSet("dest")}
	call["args"] = []string(ctx.Args())
	sourcePath := strings.TrimSpace(ctx.Args().First())
	if sourcePath == "" {
		sourcePath = importPath(ctx)
	} else {
		a, err := filepath.Abs(sourcePath)
		if err != nil {
			return err
		}
		sourcePath = a
	}
	originals := originalsPath(ctx)
	paths := map[string]string{"source": sourcePath, "originals": originals}
	call["paths"] = paths
	if sourcePath == originals {
		return errors.New("import path is identical with originals")
	}
	var destFolder string
	if ctx.IsSet("dest") {
		destFolder = userPath(ctx.String("dest"))
	} else {
		destFolder = userPath(ctx.GlobalString("import-dest"))
	}
	dest := filepath.Join(originals, destFolder)
	paths["dest"] = dest
	infof("moving media files from %s to %s", sourcePath, dest)

	if _, err := os.Stat(sourcePath); err != nil {
		errorf("%s", strings.ToLower(fmt.Sprintf("import: directory %s not found", sourcePath)))
		infof("completed in %s", time.Since(start))
		return nil
	}
	// The stand-in never moves files out of the originals or storage folders.
	storage := abs(ctx.GlobalString("storage-path"))
	imports := importPath(ctx)
	var moved []string
	var dirs []string
	_ = filepath.Walk(sourcePath, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		if info.IsDir() {
			if p == originals || p == storage || p == dest {
				return filepath.SkipDir
			}
			if p != sourcePath && p != imports {
				dirs = append(dirs, p)
			}
			return nil
		}
		if strings.HasPrefix(info.Name(), ".") || !isMedia(info.Name()) {
			return nil
		}
		rel, _ := filepath.Rel(sourcePath, p)
		to := filepath.Join(dest, rel)
		if err := os.MkdirAll(filepath.Dir(to), 0o775); err != nil {
			errorf("import: %s", err)
			return nil
		}
		if _, err := os.Stat(to); err == nil {
			_ = os.Remove(p)
			infof("import: deleted %s (already exists)", cleanLog(rel))
			return nil
		}
		toRel, _ := filepath.Rel(originals, to)
		infof("import: moving main %s file %s to %s", strings.TrimPrefix(strings.ToLower(filepath.Ext(p)), "."), cleanLog(rel), cleanLog(toRel))
		if err := os.Rename(p, to); err != nil {
			errorf("import: %s", err)
			return nil
		}
		moved = append(moved, to)
		return nil
	})
	call["moved"] = moved
	sort.Slice(dirs, func(i, j int) bool { return len(dirs[i]) > len(dirs[j]) })
	for _, d := range dirs {
		if entries, err := os.ReadDir(d); err == nil && len(entries) == 0 {
			rel, _ := filepath.Rel(sourcePath, d)
			if err := os.Remove(d); err != nil {
				errorf("import: failed to delete empty folder %s (%s)", cleanLog(rel), err)
			} else {
				infof("import: deleted empty folder %s", cleanLog(rel))
			}
		}
	}
	infof("completed in %s", time.Since(start))
	return nil
}

func statusAction(ctx *cli.Context) error {
	call["command"] = "status"
	// The real command asks the web server's /api/v1/status, which answers
	// {"status": "operational"}; this one has no server to ask.
	fmt.Println("operational")
	return nil
}

func main() {
	cwd, _ := os.Getwd()
	call["cli"] = "photoprism"
	call["argv"] = os.Args[1:]
	call["uid"] = os.Getuid()
	call["gid"] = os.Getgid()
	call["cwd"] = cwd

	app := cli.NewApp()
	app.Name = "photoprism"
	app.Usage = "AI-Powered Photos App"
	app.Version = "240915-standin"
	app.EnableBashCompletion = true
	// A few of the real global flags (internal/config/flags.go); the real
	// CLI has many more.
	app.Flags = []cli.Flag{
		cli.StringFlag{Name: "originals-path, o", Usage: "storage `PATH` of your original media files (photos and videos)", EnvVar: "PHOTOPRISM_ORIGINALS_PATH"},
		cli.StringFlag{Name: "storage-path, s", Usage: "writable storage `PATH` for sidecar, cache, and database files", EnvVar: "PHOTOPRISM_STORAGE_PATH"},
		cli.StringFlag{Name: "import-path, im", Usage: "base `PATH` from which files can be imported to originals *optional*", EnvVar: "PHOTOPRISM_IMPORT_PATH"},
		cli.StringFlag{Name: "import-dest", Usage: "relative originals `PATH` to which the files should be imported by default *optional*", EnvVar: "PHOTOPRISM_IMPORT_DEST"},
	}
	app.Commands = []cli.Command{
		{
			Name:      "index",
			Usage:     "Indexes original media files",
			ArgsUsage: "[subfolder]",
			Flags: []cli.Flag{
				cli.BoolFlag{Name: "force, f", Usage: "rescan all originals, including unchanged files"},
				cli.BoolFlag{Name: "archived, a", Usage: "do not skip files belonging to archived photos"},
				cli.BoolFlag{Name: "cleanup, c", Usage: "remove orphan index entries and thumbnails"},
			},
			Action: indexAction,
		},
		{
			Name:      "mv",
			Aliases:   []string{"import"},
			Usage:     "Moves media files to originals",
			ArgsUsage: "[source]",
			Flags: []cli.Flag{
				cli.StringFlag{Name: "dest, d", Usage: "relative originals `PATH` to which the files should be imported"},
			},
			Action: importAction,
		},
		{
			Name:   "status",
			Usage:  "Checks if the Web server is running",
			Action: statusAction,
		},
	}
	// urfave/cli exits by itself (os.Exit) for an ExitCoder such as the
	// unknown command's "No help topic" (3): log the call first.
	cli.OsExiter = func(code int) {
		writeCall(code)
		os.Exit(code)
	}
	if err := app.Run(os.Args); err != nil {
		call["error"] = err.Error()
		errorf("%s", err)
	}
	writeCall(0)
}
