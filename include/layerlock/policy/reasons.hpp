// SPDX-License-Identifier: Apache-2.0
// The words of policy's decisions: why a file or process was judged as it was,
// what kind of drift it is and what was done. Decisions compare these enums; the
// text (the "kind", "reason" and "action" fields of docs/events.md) comes from
// name(), called only where an event record is filled for the sinks.
#pragma once

#include <cstdint>
#include <string_view>

namespace layerlock::policy {

// Why an executed or opened file is, or is not, the image's (exec and code gate).
enum class Reason : std::uint8_t {
    ImageLayer,          // an image layer's inode
    CopyUp,              // a copy-up holding the image's bytes at the same path
    RenamedImageFile,    // the kernel's origin marker and the bytes of an image file
    ModifiedImageFile,   // the image has a different file at the path
    CopiedImageFile,     // a new path holding the bytes of an image file
    NewFile,             // not the image's
    Undecided,           // an error, deadline or overload: the configured fallback answered
    ChangedWhileJudged,  // the file changed while it was being judged
    Prohibited,          // a [[prohibit]] rule
    MountedBinary,       // on a tmpfs or volume mount
    RunByLoader,         // an ELF run as `ld.so FILE`
    LoadedLibrary,       // an ELF mapped by another process
    ScriptRead,          // a "#!" script opened by an interpreter
    ScriptSource,        // a source file extension opened by an interpreter
    ScriptArgument,      // the file an interpreter was started with
};

// What kind of code an exec or code open runs.
enum class CodeKind : std::uint8_t { Binary, Library, Script };

// What was done: the action field of a gate or behaviour alert (Killed: a
// fileless process in enforce mode).
enum class Outcome : std::uint8_t { Allowed, Denied, Alerted, Learned, Killed };

// Behaviour drift: a new process.
enum class BehaviourKind : std::uint8_t { Fileless, Package, Shell };
enum class BehaviourReason : std::uint8_t { Memfd, DeletedExecutable, PackageManager, ShellFromService };

// File drift: a change in a writable layer.
enum class FileKind : std::uint8_t { Binary, Package, Config, File };
enum class FileReason : std::uint8_t {
    ExpectedChange,      // a quiet glob or an [[allow]] rule
    AllowedExecutable,   // written where an [[exec_allow]] rule lets it run
    PackageDatabase,
    SensitiveFile,       // accounts, sudoers, cron, ssh keys, ld.so.preload
    SetuidExecutable,
    SetuidBitAdded,
    Configuration,       // under /etc
    Executable,
    Directory,           // a directory's metadata
    File,
    WatchLimit,          // too many directories to watch: a periodic reconcile instead
};

std::string_view name(Reason r);
std::string_view name(CodeKind k);
std::string_view name(Outcome o);
std::string_view name(BehaviourKind k);
std::string_view name(BehaviourReason r);
std::string_view name(FileKind k);
std::string_view name(FileReason r);

}  // namespace layerlock::policy
