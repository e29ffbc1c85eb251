// SPDX-License-Identifier: Apache-2.0
// Pure rules of the code-open gate: when opening a file that is not the image's
// is running code that is not the image's. Execve is not the only way to run
// code: an interpreter reads a script (`sh /tmp/x.sh`, `python3 x.py`), the
// dynamic loader maps a library (LD_PRELOAD, dlopen, LD_LIBRARY_PATH) or runs a
// program (`ld.so /tmp/prog`). The gate sees each as an open (FAN_OPEN_PERM) by
// the process that reads the file; these rules decide, from what the file is
// (its first bytes, its name) and who opens it, whether that open is drift:
//   an ELF object                          opened by the loader run as a program -> binary (critical)
//   an ELF object                          opened by any other process           -> library (critical)
//   a "#!" script                          opened by an interpreter              -> script (high)
//   a file with an interpreter's source
//     extension (.sh .py .pl .rb .js .php ...) opened by an interpreter          -> script (high)
//   a file an interpreter was started with
//     (its name in the interpreter's argv) opened by that interpreter            -> script (high)
//   anything else (data, logs, uploads; a script read by cat or a web server)    -> not code
// Files of the image (the lower layer, or a copy-up with the image's bytes) are
// never drift, whoever opens them; files on a tmpfs or a volume never belong to
// the image. No syscalls, no logging: unit-tested without root.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layerlock/model/types.hpp"
#include "layerlock/policy/verdict.hpp"

namespace layerlock::policy {

// What a file is, from its first bytes.
enum class FileType {
    Elf,        // "\x7fELF": an executable or a shared object
    Shebang,    // "#!": a script naming its interpreter
    Other,      // anything else: data, or source an interpreter may read
};

// `head`: the first bytes of the file (16 are enough; fewer for a short file).
FileType file_type(std::string_view head);

// Who opened the file, as far as the gate needs to know.
struct Opener {
    bool interpreter = false;    // its comm or executable is one of the configured interpreters
    bool loader = false;         // its executable is the dynamic loader itself (ld.so run as a program)
    bool names_file = false;     // its argv names the opened file (the script it was started with)
};

// The configured lists (config::GateConfig holds the defaults).
struct CodeRules {
    // fnmatch(3) globs on a process's comm and on its executable's file name.
    std::vector<std::string> interpreters;
    // Source file name extensions that are code when an interpreter opens them.
    std::vector<std::string> script_extensions;
};

// True when a process with this comm, or this executable file name, is an interpreter.
bool is_interpreter(std::string_view comm, std::string_view exe_name, const CodeRules& rules);
// True when the executable file name is the dynamic loader's (ld-linux*.so*, ld-musl-*.so*, ld.so).
bool is_loader(std::string_view exe_name);
// True when the path's file name ends with one of the script extensions.
bool has_script_extension(std::string_view path, const CodeRules& rules);
// True when the interpreter's script argument names `path`: the first operand
// after argv[0] and its options (`sh -x /tmp/p`, `python3 x.py data.csv` names
// x.py only), absolute or relative to `cwd`; never when an option runs code from
// the command line instead (-c, -e, -m, -r). `argv`: NUL-separated, as
// /proc/<pid>/cmdline holds it.
bool argv_names(std::string_view argv, std::string_view cwd, std::string_view path);

// The drift an open of a file that is not the image's is, or nullopt when the
// open is not running code.
struct CodeDrift {
    CodeKind kind = CodeKind::Binary;
    model::Severity severity = model::Severity::High;
    Reason reason = Reason::NewFile;   // RunByLoader | LoadedLibrary | ScriptRead | ScriptSource | ScriptArgument
};
std::optional<CodeDrift> classify_open(FileType type, bool script_extension, const Opener& who);

// The classification an alert and the answer work from.
inline Classification classification(const CodeDrift& d) { return {true, true, d.severity, d.reason}; }

// The answer to a code open that is drift, under the container's code gate:
// On follows the mode (denied in enforce, alerted in monitor), Alert alerts only,
// Off allows quietly (the gate does not ask then).
Verdict decide_code(const Classification& c, model::Mode mode, model::CodeGate gate);

// The answer to an exec or code open of a file on a tmpfs or volume mount (never
// the image's): Deny is drift (follows the mode), Alert alerts only, Allow is quiet.
Verdict decide_mount(const Classification& c, model::Mode mode, model::MountAction action);

// An exec from a tmpfs or volume mount: binary drift, whatever the file holds.
inline Classification mount_exec() { return {true, true, model::Severity::Critical, Reason::MountedBinary}; }

}  // namespace layerlock::policy
