// SPDX-License-Identifier: Apache-2.0
// Classification of file drift (pure): which kind of drift a changed path is and
// how severe, from the path and what changed. Package databases and trees are
// `package` (high); /etc is `config` (medium) and its sensitive files, ssh keys
// and cron are critical; a setuid/setgid bit added is high; a new or changed
// executable is `binary` (high); expected runtime paths (/tmp, /var/log, ...) are
// quiet (info) but still reported; anything else is `file` (low).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "layerlock/config/config.hpp"
#include "layerlock/model/types.hpp"
#include "layerlock/policy/reasons.hpp"

namespace layerlock::policy {

struct FileFacts {
    std::string_view path;
    model::Change change = model::Change::Added;
    bool directory = false;
    bool executable = false;
    std::uint32_t mode = 0, image_mode = 0;
    std::string_view container = {}, image = {};   // for allow rules narrowed to them
};

struct FileVerdict {
    FileKind kind = FileKind::File;
    model::Severity severity = model::Severity::Low;
    bool quiet = false;               // expected runtime change
    FileReason why = FileReason::File;
};

struct FileRules {
    // fnmatch globs without flags ("*" also matches "/"); a directory matches when
    // its path with a trailing "/" does.
    // Defaults: config::FileDriftConfig's ([file_drift]), written there only.
    static inline const config::FileDriftConfig kDefaults{};
    std::vector<std::string> quiet = kDefaults.quiet;
    struct Allow {
        std::string path, image, container;        // image/container empty: any
    };
    std::vector<Allow> allow;                      // expected changes: quiet, like `quiet`
    // [[exec_allow]] blocks with a path: a new executable there may run, so its
    // being written is expected too (quiet, or low for alert = "low").
    struct ExecAllow {
        std::string path, image, container;
        bool quiet = false;
    };
    std::vector<ExecAllow> exec_allow;
    struct Severities {
        model::Severity binary = kDefaults.binary, package = kDefaults.package, sensitive = kDefaults.sensitive,
                        setuid = kDefaults.setuid, config = kDefaults.config, file = kDefaults.file;
    } severity;
};

FileVerdict classify_file(const FileFacts& f, const FileRules& rules = {});

}  // namespace layerlock::policy
