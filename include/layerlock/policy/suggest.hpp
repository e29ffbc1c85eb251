// SPDX-License-Identifier: Apache-2.0
// `layerlock allowlist suggest`: configuration blocks, ready to paste, that would
// have kept the drift recorded in learn mode ("learned" events) from alerting:
//   exec and code drift (binary, script, library)  -> [[exec_allow]] path, image
//   file drift (a change in the writable layer)     -> [[allow]] path, image
//   shells and package managers                     -> [[behaviour_allow]] kind, process, parent, image
//   new listeners                                   -> [[listen]] ports, image
// one block per path pattern and image (the container's name when the image is
// not known), each with a comment: how many occurrences, by which processes, when.
// Paths that differ only by numbered or random-looking parts (build-17, tmp.Xa8f3kQ2)
// are collapsed into one glob when at least two were seen; a path seen alone
// stays literal. Fileless code is never suggested (it is named in a comment).
// Pure: unit-tested on events, no database.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "layerlock/model/types.hpp"

namespace layerlock::policy {

// The TOML text (comments and blocks); empty when no event is a candidate.
std::string suggest_allowlist(const std::vector<model::DriftEvent>& learned);

// The glob shape of one path: numbered runs and random-looking tokens become '*',
// other glob characters are escaped. Exposed for tests.
std::string path_shape(std::string_view path);
// A path as a glob matching only itself (fnmatch: *, ? and [ escaped).
std::string literal_glob(std::string_view path);
// A TOML basic string ("..."), every byte that is not printable ASCII escaped;
// bytes that are not valid UTF-8 cannot be written in TOML: nullopt.
std::string toml_string(std::string_view s, bool* representable = nullptr);

}  // namespace layerlock::policy
