// SPDX-License-Identifier: Apache-2.0
#include <cstdio>
#include <syslog.h>

#include "layerlock/model/types.hpp"

namespace layerlock::model {

std::string_view to_string(Change c) {
    switch (c) {
        case Change::Added: return "added";
        case Change::Modified: return "modified";
        case Change::Metadata: return "metadata";
        case Change::Deleted: return "deleted";
    }
    return "modified";
}

char type_code(FileType t) { return static_cast<char>(t); }

std::string_view to_string(Mode m) {
    switch (m) {
        case Mode::Enforce: return "enforce";
        case Mode::Learn: return "learn";
        case Mode::Monitor: return "monitor";
    }
    return "monitor";
}
std::string_view to_string(CodeGate g) {
    switch (g) {
        case CodeGate::On: return "on";
        case CodeGate::Alert: return "alert";
        case CodeGate::Off: return "off";
    }
    return "on";
}

std::string_view to_string(MountAction a) {
    switch (a) {
        case MountAction::Deny: return "deny";
        case MountAction::Alert: return "alert";
        case MountAction::Allow: return "allow";
    }
    return "deny";
}

std::optional<CodeGate> parse_code_gate(std::string_view s) {
    for (auto g : {CodeGate::On, CodeGate::Alert, CodeGate::Off})
        if (to_string(g) == s) return g;
    return std::nullopt;
}

std::optional<MountAction> parse_mount_action(std::string_view s) {
    for (auto a : {MountAction::Deny, MountAction::Alert, MountAction::Allow})
        if (to_string(a) == s) return a;
    return std::nullopt;
}

std::string_view to_string(Action a) { return a == Action::Deny ? "deny" : "allow"; }

std::string_view to_string(Severity s) {
    switch (s) {
        case Severity::Info: return "info";
        case Severity::Low: return "low";
        case Severity::Medium: return "medium";
        case Severity::High: return "high";
        case Severity::Critical: return "critical";
    }
    return "unknown";
}

std::string_view to_string(Runtime r) {
    switch (r) {
        case Runtime::Docker: return "docker";
        case Runtime::Containerd: return "containerd";
        case Runtime::Podman: return "podman";
        case Runtime::CriO: return "cri-o";
        case Runtime::Unknown: return "unknown";
    }
    return "unknown";
}

std::optional<Mode> parse_mode(std::string_view s) {
    if (s == "monitor") return Mode::Monitor;
    if (s == "enforce") return Mode::Enforce;
    if (s == "learn") return Mode::Learn;
    return std::nullopt;
}

std::optional<Action> parse_action(std::string_view s) {
    if (s == "allow") return Action::Allow;
    if (s == "deny") return Action::Deny;
    return std::nullopt;
}

std::optional<Severity> parse_severity(std::string_view s) {
    for (auto v : {Severity::Info, Severity::Low, Severity::Medium, Severity::High, Severity::Critical})
        if (to_string(v) == s) return v;
    return std::nullopt;
}

int syslog_priority(Severity s) {
    switch (s) {
        case Severity::Info: return LOG_INFO;
        case Severity::Low: return LOG_NOTICE;
        case Severity::Medium: return LOG_WARNING;
        case Severity::High: return LOG_ERR;
        case Severity::Critical: return LOG_CRIT;
    }
    return LOG_WARNING;
}

std::string to_hex(const Sha256& d) {
    static const char* digits = "0123456789abcdef";
    std::string out(64, '0');
    for (std::size_t i = 0; i < d.size(); ++i) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 0xF];
    }
    return out;
}

std::optional<Sha256> sha256_from_hex(std::string_view hex) {
    if (hex.size() != 64) return std::nullopt;
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    Sha256 d{};
    for (std::size_t i = 0; i < d.size(); ++i) {
        int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
        if (hi < 0 || lo < 0) return std::nullopt;
        d[i] = static_cast<std::uint8_t>(hi << 4 | lo);
    }
    return d;
}

}  // namespace layerlock::model
