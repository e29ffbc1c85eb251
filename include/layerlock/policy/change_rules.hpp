// SPDX-License-Identifier: Apache-2.0
// File drift rules as the configuration states them, and the classification of one
// change of a container's writable layer by them. Shared by the daemon's live watch,
// its reconcile and `layerlock scan`, so that all three judge a change alike.
#pragma once

#include "layerlock/config/config.hpp"
#include "layerlock/model/types.hpp"
#include "layerlock/policy/file_rules.hpp"
#include "layerlock/watch/reconcile.hpp"

namespace layerlock::policy {

// The file drift rules the configuration asks for ([file_drift] quiet, [[allow]]).
FileRules file_rules(const config::Config& cfg);

// Classification of one change of a container's writable layer.
FileVerdict classify_change(const watch::FileChange& ch, const model::Container& c, const FileRules& rules);

}  // namespace layerlock::policy
