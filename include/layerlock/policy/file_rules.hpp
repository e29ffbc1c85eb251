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
    std::string_view change;          // added | modified | metadata | deleted
    bool directory = false;
    bool executable = false;
    std::uint32_t mode = 0, image_mode = 0;
};

struct FileVerdict {
    std::string kind;                 // binary | package | config | file
    model::Severity severity = model::Severity::Low;
    bool quiet = false;               // expected runtime change
    std::string why;                  // short reason
};

struct FileRules {
    std::vector<std::string> quiet_prefixes = {"/tmp/", "/var/tmp/", "/var/log/", "/var/cache/", "/run/"};
};

FileVerdict classify_file(const FileFacts& f, const FileRules& rules = {});

}  // namespace layerlock::policy
