// SPDX-License-Identifier: Apache-2.0
#include "layerlock/policy/code_rules.hpp"

#include <fnmatch.h>

#include <utility>

namespace layerlock::policy {
namespace {

bool glob(const std::string& pattern, std::string_view s) {
    return ::fnmatch(pattern.c_str(), std::string(s).c_str(), 0) == 0;
}

std::string_view file_name(std::string_view path) {
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// "a/./b/../c" -> "a/c" for an absolute path; argv names are resolved against cwd.
std::string normalized(std::string_view cwd, std::string_view name) {
    std::string joined = name.starts_with('/') ? std::string(name) : std::string(cwd) + "/" + std::string(name);
    std::vector<std::string_view> parts;
    std::string_view rest = joined;
    while (!rest.empty()) {
        auto slash = rest.find('/');
        auto part = rest.substr(0, slash);
        rest = slash == std::string_view::npos ? std::string_view() : rest.substr(slash + 1);
        if (part.empty() || part == ".") continue;
        if (part == "..") {
            if (!parts.empty()) parts.pop_back();
            continue;
        }
        parts.push_back(part);
    }
    std::string out;
    for (auto p : parts) {
        out += '/';
        out += p;
    }
    return out.empty() ? "/" : out;
}

}  // namespace

FileType file_type(std::string_view head) {
    if (head.starts_with("\x7f" "ELF")) return FileType::Elf;
    if (head.starts_with("#!")) return FileType::Shebang;
    return FileType::Other;
}

bool is_interpreter(std::string_view comm, std::string_view exe_name, const CodeRules& rules) {
    for (const auto& pattern : rules.interpreters)
        if ((!comm.empty() && glob(pattern, comm)) || (!exe_name.empty() && glob(pattern, exe_name))) return true;
    return false;
}

bool is_loader(std::string_view exe_name) {
    return exe_name.starts_with("ld-linux") || exe_name.starts_with("ld-musl-") || exe_name == "ld.so" ||
           (exe_name.starts_with("ld-") && exe_name.find(".so") != std::string_view::npos);
}

bool has_script_extension(std::string_view path, const CodeRules& rules) {
    auto name = file_name(path);
    for (const auto& ext : rules.script_extensions)
        if (name.size() > ext.size() && name.ends_with(ext)) return true;
    return false;
}

// An option that makes the interpreter run code given on the command line
// (sh -c, python -c/-m, perl/ruby/node -e, php -r): then no argument is a script.
bool code_on_command_line(std::string_view opt) {
    if (opt == "--eval" || opt == "--command" || opt == "--module") return true;
    if (opt.starts_with("--") || !opt.starts_with('-')) return false;
    return opt.find_first_of("cemr", 1) != std::string_view::npos;   // also in a cluster: sh -ec, python -Bc
}

bool argv_names(std::string_view argv, std::string_view cwd, std::string_view path) {
    const std::string want = normalized("/", path);
    bool first = true;
    while (!argv.empty()) {
        auto nul = argv.find('\0');
        auto arg = argv.substr(0, nul);
        argv = nul == std::string_view::npos ? std::string_view() : argv.substr(nul + 1);
        if (std::exchange(first, false) || arg.empty()) continue;
        if (arg == "--") continue;
        if (arg.starts_with('-')) {
            if (code_on_command_line(arg)) return false;
            continue;
        }
        // The first operand is the script (`interp [options] script [args...]`);
        // later operands are the script's own arguments (data files).
        return file_name(arg) == file_name(want) && normalized(cwd, arg) == want;
    }
    return false;
}

std::optional<CodeDrift> classify_open(FileType type, bool script_extension, const Opener& who) {
    using model::Severity;
    switch (type) {
        case FileType::Elf:
            if (who.loader) return CodeDrift{CodeKind::Binary, Severity::Critical, Reason::RunByLoader};
            return CodeDrift{CodeKind::Library, Severity::Critical, Reason::LoadedLibrary};
        case FileType::Shebang:
            if (who.interpreter) return CodeDrift{CodeKind::Script, Severity::High, Reason::ScriptRead};
            return std::nullopt;
        case FileType::Other:
            if (!who.interpreter) return std::nullopt;
            if (script_extension) return CodeDrift{CodeKind::Script, Severity::High, Reason::ScriptSource};
            if (who.names_file) return CodeDrift{CodeKind::Script, Severity::High, Reason::ScriptArgument};
            return std::nullopt;
    }
    return std::nullopt;
}

}  // namespace layerlock::policy

namespace layerlock::policy {

Verdict decide_code(const Classification& c, model::Mode mode, model::CodeGate gate) {
    switch (gate) {
        case model::CodeGate::Off: return {model::Action::Allow, {false, false, c.severity, c.reason}, Outcome::Allowed};
        case model::CodeGate::Alert: return {model::Action::Allow, c, mode == model::Mode::Learn ? Outcome::Learned : Outcome::Alerted};
        case model::CodeGate::On: break;
    }
    return decide(c, mode, model::Action::Allow);
}

Verdict decide_mount(const Classification& c, model::Mode mode, model::MountAction action) {
    switch (action) {
        case model::MountAction::Allow: return {model::Action::Allow, {false, false, c.severity, c.reason}, Outcome::Allowed};
        case model::MountAction::Alert: return {model::Action::Allow, c, mode == model::Mode::Learn ? Outcome::Learned : Outcome::Alerted};
        case model::MountAction::Deny: break;
    }
    return decide(c, mode, model::Action::Allow);
}

}  // namespace layerlock::policy
