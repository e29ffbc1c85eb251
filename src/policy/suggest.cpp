// SPDX-License-Identifier: Apache-2.0
#include "layerlock/policy/suggest.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <ctime>
#include <map>
#include <set>

namespace layerlock::policy {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

// A token (between '.', '-', '_' or '/') that looks generated: letters and digits
// mixed through it (mkstemp, uuids, hashes), not a name with a version at its end.
bool random_looking(std::string_view t) {
    if (t.size() < 6) return false;
    int digits = 0, letters = 0, switches = 0;
    for (std::size_t i = 0; i < t.size(); ++i) {
        if (!is_digit(t[i]) && !is_alpha(t[i])) return false;
        (is_digit(t[i]) ? digits : letters)++;
        if (i > 0 && is_digit(t[i]) != is_digit(t[i - 1])) ++switches;
    }
    return digits >= 2 && letters >= 2 && switches >= 3;
}

void escape_glob_char(std::string& out, char c) {
    if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\') out += '\\';
    out += c;
}

std::string token_shape(std::string_view t) {
    if (random_looking(t)) return "*";
    std::string out;
    for (std::size_t i = 0; i < t.size();) {
        if (is_digit(t[i])) {
            while (i < t.size() && is_digit(t[i])) ++i;
            out += '*';
        } else {
            escape_glob_char(out, t[i++]);
        }
    }
    return out;
}

std::string utc(std::int64_t ns) {
    std::time_t t = static_cast<std::time_t>(ns / 1'000'000'000);
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

std::int64_t time_of(const model::DriftEvent& e) { return e.time_ns ? e.time_ns : e.time_us * 1000; }

// What the suggested blocks are narrowed to: the image, else the container's name.
struct Scope {
    std::string key, value;   // "image" | "container"
    auto operator<=>(const Scope&) const = default;
};
Scope scope_of(const model::DriftEvent& e) {
    if (!e.image.empty()) return {"image", e.image};
    return {"container", e.container_name.empty() ? e.container_id : e.container_name};
}

// Occurrences summed up for one block's comment.
struct Seen {
    std::uint64_t count = 0;
    std::int64_t first = 0, last = 0;
    std::map<std::string, std::uint64_t> processes;   // "comm (parent)" -> count
    std::set<std::string> paths;
    void add(const model::DriftEvent& e, const std::string& who) {
        count += e.count;
        const auto t = time_of(e), until = e.last_ns ? e.last_ns : t;
        first = first ? std::min(first, t) : t;
        last = std::max(last, until);
        if (!who.empty()) processes[who] += e.count;
        if (!e.path.empty()) paths.insert(e.path);
    }
};

std::string printable(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7f) out += static_cast<char>(c);
        else {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        }
    }
    return out;
}

void comment(std::string& out, const char* what, const Seen& s) {
    out += "# " + std::to_string(s.count) + " " + what + ", " + utc(s.first);
    if (s.last != s.first) out += " .. " + utc(s.last);
    out += "\n";
    if (!s.processes.empty()) {
        out += "#   by:";
        std::size_t n = 0;
        for (const auto& [who, count] : s.processes) {
            if (++n > 6) {
                out += " ...";
                break;
            }
            out += " " + printable(who) + " (" + std::to_string(count) + ")";
        }
        out += "\n";
    }
    if (s.paths.size() > 1) {
        out += "#   paths:";
        std::size_t n = 0;
        for (const auto& p : s.paths) {
            if (++n > 4) {
                out += " ... (" + std::to_string(s.paths.size()) + " in all)";
                break;
            }
            out += " " + printable(p);
        }
        out += "\n";
    }
}

void key_line(std::string& out, const char* key, const std::string& value) {
    bool ok = true;
    auto v = toml_string(value, &ok);
    out += std::string(ok ? "" : "# (not valid UTF-8: edit by hand) ") + key + " = " + v + "\n";
}

bool exec_kind(const model::DriftEvent& e) {
    return e.change.empty() && (e.kind == "binary" || e.kind == "script" || e.kind == "library");
}

}  // namespace

std::string path_shape(std::string_view path) {
    std::string out;
    std::size_t i = 0;
    while (i < path.size()) {
        const char c = path[i];
        if (c == '/' || c == '.' || c == '-' || c == '_') {
            out += c;
            ++i;
            continue;
        }
        std::size_t j = i;
        while (j < path.size() && path[j] != '/' && path[j] != '.' && path[j] != '-' && path[j] != '_') ++j;
        out += token_shape(path.substr(i, j - i));
        i = j;
    }
    return out;
}

std::string literal_glob(std::string_view path) {
    std::string out;
    for (char c : path) escape_glob_char(out, c);
    return out;
}

std::string toml_string(std::string_view s, bool* representable) {
    std::string out = "\"";
    bool ok = true;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const auto c = static_cast<unsigned char>(s[i]);
        if (c == '"') out += "\\\"";
        else if (c == '\\') out += "\\\\";
        else if (c < 0x20 || c == 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\u%04x", c);
            out += buf;
        } else if (c < 0x80) {
            out += static_cast<char>(c);
        } else {   // UTF-8 sequence: copied when well-formed
            const std::size_t len = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c <= 0xdf ? 2 : 0;
            bool good = len > 0 && i + len <= s.size();
            for (std::size_t k = 1; good && k < len; ++k) good = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
            if (!good) {
                ok = false;
                out += "?";
                continue;
            }
            out.append(s.substr(i, len));
            i += len - 1;
        }
    }
    if (representable) *representable = ok;
    return out + "\"";
}

std::string suggest_allowlist(const std::vector<model::DriftEvent>& learned) {
    // (block, scope) -> paths and what was seen of each
    std::map<std::pair<std::string, Scope>, std::map<std::string, Seen>> by_path;
    std::map<std::pair<Scope, std::tuple<std::string, std::string, std::string>>, Seen> behaviour;
    std::map<Scope, std::map<std::string, Seen>> listen;
    std::map<Scope, Seen> fileless;
    for (const auto& e : learned) {
        const Scope scope = scope_of(e);
        std::string who = e.comm;
        if (!e.parent_comm.empty()) who += " <- " + e.parent_comm;
        // File drift; a new executable is quieted by the [[exec_allow]] that lets it run.
        if (!e.change.empty()) by_path[{e.kind == "binary" ? "exec_allow" : "allow", scope}][e.path].add(e, who);
        else if (e.kind == "fileless") fileless[scope].add(e, who);
        else if (e.kind == "shell" || e.kind == "package")
            behaviour[{scope, {e.kind, e.comm, e.parent_comm}}].add(e, who);
        else if (e.kind == "network") listen[scope][e.path].add(e, who);
        else if (exec_kind(e) && !e.path.empty()) by_path[{"exec_allow", scope}][e.path].add(e, who);
    }
    std::string out;
    for (const auto& [key, paths] : by_path) {
        const auto& [block, scope] = key;
        // Paths of one shape seen at least twice become that glob; others stay literal.
        std::map<std::string, std::vector<const std::pair<const std::string, Seen>*>> shapes;
        for (const auto& entry : paths) shapes[path_shape(entry.first)].push_back(&entry);
        std::map<std::string, Seen> globs;
        for (const auto& [shape, members] : shapes) {
            if (members.size() >= 2) {
                auto& s = globs[shape];
                for (const auto* m : members) {
                    s.count += m->second.count;
                    s.first = s.first ? std::min(s.first, m->second.first) : m->second.first;
                    s.last = std::max(s.last, m->second.last);
                    for (const auto& [who, n] : m->second.processes) s.processes[who] += n;
                    s.paths.insert(m->first);
                }
            } else {
                globs[literal_glob(members.front()->first)] = members.front()->second;
            }
        }
        for (const auto& [glob, seen] : globs) {
            comment(out, block == "exec_allow" ? "drift occurrences (executables written, run or loaded)" : "changes", seen);
            out += "[[" + block + "]]\n";
            key_line(out, "path", glob);
            key_line(out, scope.key.c_str(), literal_glob(scope.value));
            if (block == "exec_allow") out += "alert = \"none\"   # \"low\": a low alert for each run instead\n";
            out += "\n";
        }
    }
    for (const auto& [key, seen] : behaviour) {
        const auto& [scope, what] = key;
        const auto& [kind, comm, parent] = what;
        comment(out, kind == "shell" ? "shells started by a service" : "package manager runs", seen);
        out += "[[behaviour_allow]]\n";
        key_line(out, "kind", kind);
        if (!comm.empty()) key_line(out, "process", literal_glob(comm));
        if (!parent.empty()) key_line(out, "parent", literal_glob(parent));
        key_line(out, scope.key.c_str(), literal_glob(scope.value));
        out += "\n";
    }
    for (const auto& [scope, ports] : listen) {
        Seen all;
        std::string list;
        for (const auto& [port, seen] : ports) {
            all.count += seen.count;
            all.first = all.first ? std::min(all.first, seen.first) : seen.first;
            all.last = std::max(all.last, seen.last);
            for (const auto& [who, n] : seen.processes) all.processes[who] += n;
            list += (list.empty() ? "" : ", ") + toml_string(port);
        }
        comment(out, "new listeners", all);
        out += "[[listen]]\n";
        key_line(out, scope.key.c_str(), literal_glob(scope.value));
        out += "ports = [" + list + "]\n\n";
    }
    for (const auto& [scope, seen] : fileless) {
        out += "# NOT SUGGESTED: " + std::to_string(seen.count) + " fileless executions in " + scope.key + " " +
               printable(scope.value) + " (memfd or deleted executables): investigate, never allowlist\n\n";
    }
    return out;
}

}  // namespace layerlock::policy
