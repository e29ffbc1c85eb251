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

#include "layerlock/model/types.hpp"

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
    std::string kind;                 // binary | package | config | file
    model::Severity severity = model::Severity::Low;
    bool quiet = false;               // expected runtime change
    std::string why;                  // short reason
};

struct FileRules {
    // fnmatch globs without flags ("*" also matches "/"); a directory matches when
    // its path with a trailing "/" does.
    std::vector<std::string> quiet = {"/tmp/*", "/var/tmp/*", "/var/log/*", "/var/cache/*", "/run/*"};
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
        model::Severity binary = model::Severity::High, package = model::Severity::High,
                        sensitive = model::Severity::Critical, setuid = model::Severity::High,
                        config = model::Severity::Medium, file = model::Severity::Low;
    } severity;
};

FileVerdict classify_file(const FileFacts& f, const FileRules& rules = {});

}  // namespace layerlock::policy
