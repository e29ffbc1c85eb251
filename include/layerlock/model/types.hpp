// SPDX-License-Identifier: Apache-2.0
// Vocabulary types shared by every module: modes, actions, severities, the
// description of a container, and a drift event. Values only: no I/O, no
// behaviour beyond conversions to and from their text names.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace layerlock::model {

// monitor: alert only; enforce: deny drift; learn: deny nothing, and record every
// drift that would have alerted as a candidate exception (`layerlock allowlist suggest`).
enum class Mode { Monitor, Enforce, Learn };
// The code-open gate of a container: reads of code that is not the image's
// (scripts by interpreters, libraries and programs by the loader) are judged like
// execs (On: denied in enforce mode, alerted in monitor mode), only alerted
// (Alert), or not watched at all (Off: no open permission events, no cost).
enum class CodeGate { On, Alert, Off };
// What a container may do with code on one of its tmpfs or volume mounts (an exec,
// or a code open as above): Deny (drift: denied in enforce mode, alerted in
// monitor mode), Alert (alerted, never denied), Allow (quiet).
enum class MountAction { Deny, Alert, Allow };
enum class Action { Allow, Deny };
enum class Severity { Info, Low, Medium, High, Critical };
enum class Runtime { Docker, Containerd, Podman, CriO, Unknown };
// A change of a container's writable layer against its image, as `docker diff`
// tells them apart: added, modified (content differs), metadata only (a copy-up by
// chmod/chown/touch: same content), deleted (a whiteout).
enum class Change { Added, Modified, Metadata, Deleted };
// The type of an entry of a writable layer; its value is the one-letter code
// `layerlock scan --json` prints (type_code).
enum class FileType : char {
    Regular = 'f', Directory = 'd', Symlink = 'l', Fifo = 'p', Socket = 's',
    CharDevice = 'c', BlockDevice = 'b', Whiteout = 'w',
};

std::string_view to_string(Mode m);
std::string_view to_string(CodeGate g);
std::string_view to_string(MountAction a);
std::string_view to_string(Action a);
std::string_view to_string(Severity s);
std::string_view to_string(Runtime r);
std::string_view to_string(Change c);
char type_code(FileType t);
std::optional<Mode> parse_mode(std::string_view s);
std::optional<CodeGate> parse_code_gate(std::string_view s);
std::optional<MountAction> parse_mount_action(std::string_view s);
std::optional<Action> parse_action(std::string_view s);
std::optional<Severity> parse_severity(std::string_view s);

// syslog priority (journald PRIORITY=) for a severity.
int syslog_priority(Severity s);

using Sha256 = std::array<std::uint8_t, 32>;
std::string to_hex(const Sha256& d);
std::optional<Sha256> sha256_from_hex(std::string_view hex);

// One running container as discovery knows it. Layer directories are real,
// absolute host paths (symlinks such as Docker's overlay2/l/ resolved), lowers
// ordered top-most first, exactly as overlayfs searches them.
struct Container {
    Runtime runtime = Runtime::Unknown;
    std::string id;          // engine's id; the overlay directory name if unknown
    std::string name;        // empty when the engine's metadata could not be read
    std::string image;       // image reference as the engine reports it
    std::string image_id;    // image id / digest
    pid_t pid = 0;           // init pid, 0 if unknown
    bool metadata_known = false;
    std::string engine_namespace;  // containerd namespace ("default", "k8s.io", ...)
    std::string k8s_pod, k8s_namespace, k8s_container;  // from CRI annotations, when known

    std::string mount_point; // host path of the overlay mount (merged dir)
    std::uint64_t mount_id = 0;
    dev_t dev = 0;           // st_dev of the overlay (the superblock every copy shares)
    std::vector<std::string> lowers;
    std::string upper;
};

// What happened, as alert sinks and the event store receive it.
struct DriftEvent {
    std::string kind;        // "binary" for the exec gate
    Severity severity = Severity::High;
    std::string action;      // "alerted" | "denied" | "allowed"
    std::string reason;      // short machine word: new-file, modified, copied, renamed-image-file, ...
    Runtime runtime = Runtime::Unknown;
    std::string container_id, container_name, image;
    std::string image_id;    // the engine's image id or digest ("sha256:..."), when known
    std::string k8s_pod, k8s_namespace, k8s_container;  // empty unless a Kubernetes container
    std::string path;        // path inside the container, raw bytes (escaped by sinks)
    std::string sha256;      // hex, empty when not hashed
    pid_t pid = 0;
    std::string comm, parent_comm;
    std::string exe;         // the process's executable (path inside the container), when known
    // Where the file lives: "image" (a layer), "writable-layer", "tmpfs", "volume";
    // empty when not told (file drift is always the writable layer).
    std::string location;
    std::string mount;       // for tmpfs and volume: the mount point inside the container
    std::string cmdline;     // the process's command line, arguments joined by spaces (raw)
    std::int64_t uid = -1;   // the process's real uid; -1 unknown
    // The process and its ancestors up to the container's init, nearest first:
    // "pid=N comm=C exe=E uid=U cmdline=..." joined by " <- " (raw).
    std::string process_tree;
    std::string unknown;     // what could not be learned (e.g. "container metadata")
    std::string change;      // file drift: added | modified | metadata | deleted | renamed
    std::string detail;      // e.g. "mode 0755 -> 4755"
    std::uint64_t count = 1; // identical events summarised into one
    // A summary of repeats (alert deduplication, alert/dedup.hpp): the time of the
    // last occurrence counted in `count` (the time is the first's); 0 otherwise.
    std::int64_t last_ns = 0;
    bool quiet = false;      // expected runtime change: stored, not alerted
    std::string package;     // package drift: "name version"
    std::int64_t time_us = 0;  // CLOCK_REALTIME microseconds (the event table's precision)
    std::int64_t time_ns = 0;  // CLOCK_REALTIME nanoseconds (records); 0: time_us is all that is known
    pid_t ppid = 0;            // the process's parent, 0 unknown
    std::string user;          // the uid's name in the container's /etc/passwd, when known
};

// Sets an event's time (both precisions) from CLOCK_REALTIME nanoseconds.
inline void stamp(DriftEvent& d, std::int64_t now_ns) {
    d.time_ns = now_ns;
    d.time_us = now_ns / 1000;
}

// Copies what an alert says about its container (runtime, id, name, image,
// Kubernetes names; "container metadata" as unknown when the engine did not answer).
inline void describe_container(DriftEvent& d, const Container& c) {
    d.runtime = c.runtime;
    d.container_id = c.id;
    d.container_name = c.name;
    d.image = c.image;
    d.image_id = c.image_id;
    d.k8s_pod = c.k8s_pod;
    d.k8s_namespace = c.k8s_namespace;
    d.k8s_container = c.k8s_container;
    if (!c.metadata_known) d.unknown = "container metadata";
}

}  // namespace layerlock::model
