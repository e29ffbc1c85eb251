// SPDX-License-Identifier: Apache-2.0
// Overlayfs lookup semantics, top-most layer first, as fs/overlayfs/namei.c applies
// them: the first layer holding a path decides it; a whiteout hides the path in
// every lower layer; a non-directory ends the search (and hides whatever is below
// it); directories merge down to the first opaque one. A path is visible only if
// every ancestor resolved to a merged directory. This file holds only the rules:
// where entries come from (SQLite, memory, a test fake) is the caller's business.
#include "resolve.hpp"

namespace layerlock::baseline {
namespace detail {

bool is_dir(EntryKind k) { return k == EntryKind::Directory || k == EntryKind::OpaqueDirectory; }

std::optional<std::string> normalize(std::string_view path) {
    if (path.empty() || path.front() != '/') return std::nullopt;
    std::string out;
    out.reserve(path.size());
    std::size_t i = 0;
    while (i < path.size()) {
        while (i < path.size() && path[i] == '/') ++i;
        std::size_t end = path.find('/', i);
        if (end == std::string_view::npos) end = path.size();
        std::string_view name = path.substr(i, end - i);
        if (name == "." || name == "..") return std::nullopt;
        if (!name.empty()) (out += '/') += name;
        i = end;
    }
    if (out.empty()) out = "/";
    return out;
}

std::string_view parent_of(std::string_view path) {
    std::size_t slash = path.rfind('/');
    if (slash == 0 || slash == std::string_view::npos) return "/";
    return path.substr(0, slash);
}

Step step(const std::vector<std::size_t>& stack, const LayerLookup& lookup, std::string_view path) {
    Step out;
    for (std::size_t layer : stack) {
        std::optional<Entry> e = lookup(layer, path);
        if (!e) continue;                                   // absent here: look lower
        if (e->kind == EntryKind::Whiteout) break;          // hides this path below
        if (!is_dir(e->kind)) {                             // a file decides alone...
            if (!out.top) out.top = std::move(e);
            break;                                          // ...or ends a directory merge
        }
        bool opaque = e->kind == EntryKind::OpaqueDirectory;
        if (!out.top) out.top = std::move(e);
        out.below.push_back(layer);
        if (opaque) break;                                  // nothing lower merges in
    }
    if (out.top && !is_dir(out.top->kind)) out.below.clear();
    return out;
}

Resolver::Resolver(std::size_t layer_count, LayerLookup lookup) : lookup_(std::move(lookup)) {
    all_.reserve(layer_count);
    for (std::size_t i = 0; i < layer_count; ++i) all_.push_back(i);
}

const std::vector<std::size_t>* Resolver::stack_of(std::string_view dir) {
    if (dir == "/") return &all_;
    auto it = dirs_.find(std::string(dir));
    if (it != dirs_.end()) return it->second ? &*it->second : nullptr;
    const std::vector<std::size_t>* parent = stack_of(parent_of(dir));
    std::optional<std::vector<std::size_t>> mine;
    if (parent) {
        Step s = step(*parent, lookup_, dir);
        if (s.top && is_dir(s.top->kind)) mine = std::move(s.below);
    }
    auto [pos, _] = dirs_.emplace(std::string(dir), std::move(mine));
    return pos->second ? &*pos->second : nullptr;
}

std::optional<Entry> Resolver::resolve(std::string_view path) {
    if (path == "/") {
        Entry root;
        root.path = "/";
        root.kind = EntryKind::Directory;
        return root;
    }
    const std::vector<std::size_t>* parent = stack_of(parent_of(path));
    if (!parent) return std::nullopt;
    Step s = step(*parent, lookup_, path);
    if (s.top && is_dir(s.top->kind)) dirs_.emplace(std::string(path), std::move(s.below));
    return std::move(s.top);
}

}  // namespace detail

std::optional<Entry> resolve(std::size_t layer_count, const LayerLookup& lookup, std::string_view path) {
    std::optional<std::string> norm = detail::normalize(path);
    if (!norm || layer_count == 0) return std::nullopt;
    std::vector<std::size_t> stack;
    for (std::size_t i = 0; i < layer_count; ++i) stack.push_back(i);
    std::string_view p = *norm;
    if (p == "/") return detail::Resolver(layer_count, lookup).resolve(p);
    // Walk the ancestors from the root: each must be a merged directory.
    std::size_t pos = 0;
    for (;;) {
        std::size_t next = p.find('/', pos + 1);
        std::string_view prefix = p.substr(0, next);
        detail::Step s = detail::step(stack, lookup, prefix);
        if (next == std::string_view::npos) return std::move(s.top);
        if (!s.top || !detail::is_dir(s.top->kind)) return std::nullopt;
        stack = std::move(s.below);
        pos = next;
    }
}

}  // namespace layerlock::baseline
