// SPDX-License-Identifier: Apache-2.0
// Overlay merge rules shared by resolve(), Store::lookup and Store::effective_entries.
// Pure functions over a layer look-up callback: no SQLite, no syscalls. Internal to
// src/baseline.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "layerlock/baseline/store.hpp"

namespace layerlock::baseline::detail {

// "/a//b/" -> "/a/b"; "/" stays "/". Relative paths and "." / ".." components
// give nullopt: the baseline only answers canonical absolute paths.
std::optional<std::string> normalize(std::string_view path);

// Parent of a normalized path ("/a/b" -> "/a", "/a" -> "/").
std::string_view parent_of(std::string_view path);

// Resolution of one path component given the layers (top-most first) where its
// parent is a merged directory. `top` is the visible entry (nullopt: hidden or
// absent); `below` lists the layers whose directory at this path is merged into
// it (empty unless top is a directory).
struct Step {
    std::optional<Entry> top;
    std::vector<std::size_t> below;
};
Step step(const std::vector<std::size_t>& stack, const LayerLookup& lookup, std::string_view path);

bool is_dir(EntryKind k);

// Resolves many paths of one image, remembering each directory's merge stack so
// that every path costs one step instead of one step per ancestor.
class Resolver {
public:
    Resolver(std::size_t layer_count, LayerLookup lookup);
    std::optional<Entry> resolve(std::string_view normalized_path);

private:
    const std::vector<std::size_t>* stack_of(std::string_view dir);

    LayerLookup lookup_;
    std::vector<std::size_t> all_;
    std::unordered_map<std::string, std::optional<std::vector<std::size_t>>> dirs_;
};

}  // namespace layerlock::baseline::detail
