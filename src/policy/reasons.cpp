// SPDX-License-Identifier: Apache-2.0
#include "layerlock/policy/reasons.hpp"

namespace layerlock::policy {

std::string_view name(Reason r) {
    switch (r) {
        case Reason::ImageLayer: return "image-layer";
        case Reason::CopyUp: return "copy-up";
        case Reason::RenamedImageFile: return "renamed-image-file";
        case Reason::ModifiedImageFile: return "modified-image-file";
        case Reason::CopiedImageFile: return "copied-image-file";
        case Reason::NewFile: return "new-file";
        case Reason::Undecided: return "undecided";
        case Reason::ChangedWhileJudged: return "changed-while-judged";
        case Reason::Prohibited: return "prohibited";
        case Reason::MountedBinary: return "mounted-binary";
        case Reason::RunByLoader: return "run-by-loader";
        case Reason::LoadedLibrary: return "loaded-library";
        case Reason::ScriptRead: return "script-read";
        case Reason::ScriptSource: return "script-source";
        case Reason::ScriptArgument: return "script-argument";
    }
    return "unknown";
}

std::string_view name(CodeKind k) {
    switch (k) {
        case CodeKind::Binary: return "binary";
        case CodeKind::Library: return "library";
        case CodeKind::Script: return "script";
    }
    return "unknown";
}

std::string_view name(Outcome o) {
    switch (o) {
        case Outcome::Allowed: return "allowed";
        case Outcome::Denied: return "denied";
        case Outcome::Alerted: return "alerted";
        case Outcome::Learned: return "learned";
        case Outcome::Killed: return "killed";
    }
    return "unknown";
}

std::string_view name(BehaviourKind k) {
    switch (k) {
        case BehaviourKind::Fileless: return "fileless";
        case BehaviourKind::Package: return "package";
        case BehaviourKind::Shell: return "shell";
    }
    return "unknown";
}

std::string_view name(BehaviourReason r) {
    switch (r) {
        case BehaviourReason::Memfd: return "memfd";
        case BehaviourReason::DeletedExecutable: return "deleted-executable";
        case BehaviourReason::PackageManager: return "package-manager";
        case BehaviourReason::ShellFromService: return "shell-from-service";
    }
    return "unknown";
}

std::string_view name(FileKind k) {
    switch (k) {
        case FileKind::Binary: return "binary";
        case FileKind::Package: return "package";
        case FileKind::Config: return "config";
        case FileKind::File: return "file";
    }
    return "unknown";
}

std::string_view name(FileReason r) {
    switch (r) {
        case FileReason::ExpectedChange: return "expected-change";
        case FileReason::AllowedExecutable: return "allowed-executable";
        case FileReason::PackageDatabase: return "package-database";
        case FileReason::SensitiveFile: return "sensitive-file";
        case FileReason::SetuidExecutable: return "setuid-executable";
        case FileReason::SetuidBitAdded: return "setuid-bit-added";
        case FileReason::Configuration: return "configuration";
        case FileReason::Executable: return "executable";
        case FileReason::Directory: return "directory";
        case FileReason::File: return "file";
        case FileReason::WatchLimit: return "watch-limit";
    }
    return "unknown";
}

}  // namespace layerlock::policy
