// SPDX-License-Identifier: Apache-2.0
// The baseline: a SQLite database (WAL) of every image layer's entries, hashed
// once per layer directory and shared by every image and container using it.
// sqlite3.h stays in src/baseline. A Store is one connection: not thread-safe;
// open one per thread (WAL lets readers run beside the single writer).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layerlock/base/result.hpp"
#include "layerlock/model/types.hpp"

namespace layerlock::baseline {

// How a database is opened. ReadOnly never creates anything (no directory, no
// file, no schema): a missing database is an error with ENOENT, so read-only CLI
// verbs leave no state behind.
enum class Access { ReadWrite, ReadOnly };

// Kind of a layer entry. Whiteout: a char device 0/0 (or a 0-size file with the
// trusted.overlay.whiteout xattr); Opaque: a directory whose trusted.overlay.opaque
// (or user.overlay.opaque) xattr is "y": it hides everything below it in lower layers.
enum class EntryKind { Regular, Directory, OpaqueDirectory, Symlink, Whiteout, Other };

struct Entry {
    std::string path;        // absolute inside the layer, e.g. "/bin/busybox"
    EntryKind kind = EntryKind::Regular;
    model::Sha256 sha256{};  // regular files only
    std::uint64_t size = 0;
    std::uint32_t mode = 0;  // st_mode (type and permission bits)
    std::string layer;       // layer directory it came from
    std::string target;      // symlinks only: the link's target, raw bytes
    bool hashed = true;      // regular files: false when a scan was told to leave it unhashed (sha256 unset)
};

enum class LayerState { Absent, Building, Complete, Failed };

struct LayerStats {
    std::uint64_t files = 0;     // regular files
    std::uint64_t bytes = 0;     // bytes hashed
    double seconds = 0;          // wall time of the build (as recorded, if built earlier)
    std::uint64_t entries = 0;   // every entry stored (files, dirs, links, whiteouts, others)
    // Complete: built now or earlier; Building: another builder (thread or process)
    // holds the layer, nothing was done here.
    LayerState state = LayerState::Absent;
    double scan_seconds = 0;     // of `seconds`, walking and hashing (built now only; the rest is SQLite)
    std::string copied_from;     // built now from this directory's entries (same content), not hashed
    bool built_now = false;      // this call built the layer (hashed, or copied_from); false: it was done before
    std::string signed_by;       // the records are a signed bundle's: the key's id (hex)
};

// Where the records of a layer known by its content alone came from.
struct RecordOrigin {
    std::string origin;          // "archive" (read from an image archive) | "bundle" (imported)
    std::string signed_by;       // hex id of the key whose signature was verified; empty: unsigned
};

// An image whose baseline was made before deploy (from its archive, or a bundle).
struct ImageRecord {
    std::string ref, config_digest, manifest_digest;
    std::vector<std::string> diff_ids;   // bottom first
    std::string origin, signed_by;
    std::int64_t added_at = 0;
};

// Where a host layer directory's records came from, and its last check against
// signed records.
struct LayerProvenance {
    bool known = false;
    std::string content;         // diff id, when known
    std::string origin;          // "" (hashed from the directory), "archive", "bundle"
    std::string signed_by;       // the records are a signed bundle's (copied from it)
    std::int64_t verified_at = 0;
    std::string tampered;        // what differed at the last check; empty: nothing
};

// Progress of a layer build, called from the storing thread after each regular
// file stored: files and bytes so far. Must be cheap (it is called per file).
using ImportProgress = std::function<void(std::uint64_t files, std::uint64_t bytes)>;

// True when the file at `path` is damaged: not an SQLite database, or one whose
// pages fail SQLite's quick_check (truncated, overwritten). False for a file that
// cannot be opened for another reason (missing, permissions): not damage.
bool damaged(const std::string& path);

// Moves a damaged database aside as PATH.damaged-UNIXTIME (with its -wal and -shm
// files), root-only, so that a new one can be created and the old one examined.
// Returns the new name.
base::Result<std::string> set_aside(const std::string& path);

class Store {
public:
    // Opens (creating and migrating the schema when needed) the database at `path`;
    // ":memory:" is accepted for tests. Parent directory is created 0700 if missing.
    static base::Result<Store> open(const std::string& path, Access access = Access::ReadWrite);
    Store(Store&&) noexcept;
    Store& operator=(Store&&) noexcept;
    ~Store();

    LayerState layer_state(const std::string& layer_dir);

    // Walks `layer_dir` (never following symlinks, never opening FIFOs, sockets or
    // devices), hashes every regular file with `threads` threads, and stores the
    // entries while it hashes; the layer becomes Complete only with the last
    // transaction. Layers already Complete are skipped. Safe to call concurrently
    // from several processes: one builds, the others see Building and return.
    // `content`: the engine's identity of the layer's content (its diff id,
    // "sha256:<64 hex>"), or empty. When another directory with the same content is
    // already Complete (the same image layer unpacked by another engine), its
    // entries are copied instead of hashing this one (LayerStats::copied_from).
    base::Result<LayerStats> import_layer(const std::string& layer_dir, unsigned threads,
                                          const std::string& content = {},
                                          const ImportProgress& progress = {});

    // The effective entry at `path` for a container whose lower layers are
    // `lowers` (top-most first), honouring whiteouts and opaque directories.
    // nullopt when the path is absent from the image. Requires every layer Complete
    // (check with all_complete()).
    std::optional<Entry> lookup(const std::vector<std::string>& lowers, std::string_view path);

    // True if any regular file of `lowers` has this content.
    bool contains_digest(const std::vector<std::string>& lowers, const model::Sha256& digest);

    // True if any regular file of `lowers` has exactly this size; nullopt when a
    // layer is not complete (cannot be told).
    std::optional<bool> has_file_of_size(const std::vector<std::string>& lowers, std::uint64_t size);

    // Every effective entry of the image formed by `lowers` (regular files,
    // symlinks and directories; whiteouts applied), sorted by path.
    std::vector<Entry> effective_entries(const std::vector<std::string>& lowers);

    bool all_complete(const std::vector<std::string>& lowers);

    // Holds one read transaction over several look-ups, so they see one snapshot
    // of the database and take it once (outside a transaction every statement
    // takes its own). Must end before the Store is used to write.
    class ReadSnapshot {
    public:
        explicit ReadSnapshot(Store& store);
        ~ReadSnapshot();
        ReadSnapshot(const ReadSnapshot&) = delete;
        ReadSnapshot& operator=(const ReadSnapshot&) = delete;

    private:
        struct StoreDb* db_;
    };

    // Stores the records of a layer known by its content alone, under
    // "content:<diff id>", replacing earlier records of that content — unless those
    // are signed and these are not (a signed baseline is never downgraded).
    base::Result<LayerStats> store_content_layer(const std::string& diff_id, const std::vector<Entry>& entries,
                                                 const RecordOrigin& origin);
    // The records of a layer content (its "content:" row, else any complete row of
    // that content, signed first), sorted by path; nullopt when there are none.
    std::optional<std::vector<Entry>> content_records(const std::string& diff_id, RecordOrigin* origin = nullptr);
    // A Complete host layer whose records were hashed on the host while signed
    // records of its content exist now: takes the signed ones (true when it did).
    base::Result<bool> adopt_signed(const std::string& layer_dir, const std::string& diff_id);
    base::Result<void> store_image(const ImageRecord& img);
    std::vector<ImageRecord> images();
    LayerProvenance provenance(const std::string& layer_dir);
    // The result of checking a host layer directory against its signed records.
    void record_verification(const std::string& layer_dir, const std::string& tampered);

    // Number of layers and files stored, for status output.
    std::uint64_t layer_count();
    std::uint64_t file_count();

private:
    struct Impl;
    explicit Store(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

// Pure merge logic, exposed for unit tests: given a function that returns a
// layer's own entry at a path (or nullopt), resolve `path` through `layers`
// top-most first, as overlayfs does.
using LayerLookup = std::function<std::optional<Entry>(std::size_t layer, std::string_view path)>;
std::optional<Entry> resolve(std::size_t layer_count, const LayerLookup& lookup, std::string_view path);

}  // namespace layerlock::baseline
