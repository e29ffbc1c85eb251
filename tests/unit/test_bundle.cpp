// SPDX-License-Identifier: Apache-2.0
// Unit tests of baselines made before deploy, without root: image archives built
// here with libarchive (a docker-save tar with a plain and a gzip layer: whiteouts,
// an opaque directory, hard links, symlinks, implied directories, hostile names),
// read back into entries and diff ids; the records format; Ed25519 bundles signed,
// verified and refused (another key, one byte changed, records swapped); and the
// comparison of a layer directory with signed records.
#include <archive.h>
#include <archive_entry.h>
#include <doctest/doctest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <iterator>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "layerlock/baseline/archive.hpp"
#include "layerlock/baseline/bundle.hpp"
#include "layerlock/baseline/store.hpp"
#include "layerlock/baseline/verify.hpp"
#include "layerlock/digest/sha256.hpp"
#include "test_support.hpp"

namespace fs = std::filesystem;
using namespace layerlock::baseline;
using layerlock::digest::sha256_bytes;
using layerlock::model::to_hex;

namespace {

struct TarItem {
    std::string name;
    mode_t type = AE_IFREG;
    mode_t perm = 0644;
    std::string data;       // regular files
    std::string link;       // symlink target, or hard link target (hardlink = true)
    bool hardlink = false;
};

// A tar (optionally gzip-compressed) of `items`, in memory.
std::string make_tar(const std::vector<TarItem>& items, bool gzip = false) {
    std::vector<char> buf(64 << 20);
    size_t used = 0;
    archive* a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (gzip) archive_write_add_filter_gzip(a);
    archive_write_set_bytes_in_last_block(a, 1);
    REQUIRE(archive_write_open_memory(a, buf.data(), buf.size(), &used) == ARCHIVE_OK);
    for (const auto& it : items) {
        archive_entry* e = archive_entry_new();
        archive_entry_set_pathname(e, it.name.c_str());
        if (it.hardlink) {
            archive_entry_set_hardlink(e, it.link.c_str());
        } else {
            archive_entry_set_filetype(e, it.type);
            archive_entry_set_perm(e, it.perm);
            if (it.type == AE_IFLNK) archive_entry_set_symlink(e, it.link.c_str());
            if (it.type == AE_IFREG) archive_entry_set_size(e, static_cast<la_int64_t>(it.data.size()));
        }
        REQUIRE(archive_write_header(a, e) >= ARCHIVE_WARN);   // WARN: a name not in the locale's charset, written as is
        if (!it.hardlink && it.type == AE_IFREG && !it.data.empty())
            REQUIRE(archive_write_data(a, it.data.data(), it.data.size()) == static_cast<la_ssize_t>(it.data.size()));
        archive_entry_free(e);
    }
    REQUIRE(archive_write_close(a) == ARCHIVE_OK);
    archive_write_free(a);
    return std::string(buf.data(), used);
}

std::string digest_of(const std::string& bytes) { return "sha256:" + to_hex(sha256_bytes(bytes.data(), bytes.size())); }

// A docker-save archive of one image with these layer tars (uncompressed tars for
// the diff ids; `stored` as written in the archive, compressed or not).
std::string docker_save(const std::vector<std::string>& layer_tars, const std::vector<std::string>& stored,
                        const std::string& ref, std::vector<std::string>* diff_ids = nullptr,
                        std::string* config_digest = nullptr, bool wrong_diff_id = false) {
    boost::json::array ids, layers;
    std::vector<TarItem> items;
    for (std::size_t i = 0; i < layer_tars.size(); ++i) {
        std::string id = digest_of(layer_tars[i]);
        if (wrong_diff_id && i == 0) id = digest_of("something else");
        ids.push_back(boost::json::value(id));
        if (diff_ids) diff_ids->push_back(id);
        std::string name = "layer" + std::to_string(i) + "/layer.tar";
        layers.push_back(boost::json::value(name));
        items.push_back({"layer" + std::to_string(i) + "/", AE_IFDIR, 0755, {}, {}, false});
        items.push_back({name, AE_IFREG, 0644, stored[i], {}, false});
    }
    boost::json::object config{{"architecture", "amd64"}, {"os", "linux"},
                               {"rootfs", boost::json::object{{"type", "layers"}, {"diff_ids", ids}}}};
    std::string config_text = boost::json::serialize(config);
    std::string config_name = to_hex(sha256_bytes(config_text.data(), config_text.size())) + ".json";
    if (config_digest) *config_digest = digest_of(config_text);
    boost::json::array manifest{boost::json::object{
        {"Config", config_name}, {"RepoTags", boost::json::array{boost::json::value(ref)}}, {"Layers", layers}}};
    items.push_back({config_name, AE_IFREG, 0644, config_text, {}, false});
    items.push_back({"manifest.json", AE_IFREG, 0644, boost::json::serialize(manifest), {}, false});
    return make_tar(items);
}

void write_file(const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary) << bytes;
}

struct Read {
    std::vector<ArchiveImage> images;
    std::vector<ArchiveLayer> layers;
    std::string error;
};

Read read_archive(const fs::path& p) {
    Read out;
    auto r = read_image_archive(p.string(), 1, [&](ArchiveLayer&& l) -> layerlock::base::Result<void> {
        out.layers.push_back(std::move(l));
        return {};
    });
    if (r) out.images = *r;
    else out.error = r.error().message();
    return out;
}

const Entry* find(const std::vector<Entry>& es, const std::string& path) {
    for (const auto& e : es)
        if (e.path == path) return &e;
    return nullptr;
}

// Two layers: the second removes a file (whiteout) and replaces a directory (opaque).
std::vector<std::string> two_layers() {
    std::string big(300000, 'x');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 7 + 3);
    auto bottom = make_tar({
        {"./", AE_IFDIR, 0755, {}, {}, false},
        {"./bin/", AE_IFDIR, 0755, {}, {}, false},
        {"./bin/tool", AE_IFREG, 04755, "#!tool\n", {}, false},
        {"./bin/big", AE_IFREG, 0755, big, {}, false},
        {"./bin/link", AE_IFLNK, 0777, {}, "tool", false},
        {"./bin/hard", AE_IFREG, 0, {}, "./bin/tool", true},
        {"./etc/gone.conf", AE_IFREG, 0600, "gone\n", {}, false},   // etc/ only implied
        {"./data/old.txt", AE_IFREG, 0644, "old\n", {}, false},
        {"./odd/name \"q\"\nx\xff", AE_IFREG, 0644, "odd\n", {}, false},
    });
    auto top = make_tar({
        {"etc/.wh.gone.conf", AE_IFREG, 0644, {}, {}, false},
        {"data/", AE_IFDIR, 0700, {}, {}, false},
        {"data/.wh..wh..opq", AE_IFREG, 0644, {}, {}, false},
        {"data/new.txt", AE_IFREG, 0640, "new\n", {}, false},
    });
    return {bottom, top};
}

}  // namespace

TEST_CASE("a layer's tar names become its entry paths") {
    CHECK(layer_path("./usr/bin/x") == "/usr/bin/x");
    CHECK(layer_path("usr/bin/x") == "/usr/bin/x");
    CHECK(layer_path("usr//bin/./x/") == "/usr/bin/x");
    CHECK(layer_path("./") == "");
    CHECK(layer_path("a/../b") == "/b");
    CHECK(layer_path("../etc/passwd") == "..");
    CHECK(layer_path("a/../../etc") == "..");
}

TEST_CASE("a docker-save archive: entries as an overlay layer directory holds them, diff ids checked") {
    layerlock::test::TempDir dir;
    auto tars = two_layers();
    std::vector<std::string> ids;
    std::string config;
    SUBCASE("plain layers") {
        write_file(dir.path() / "a.tar", docker_save(tars, tars, "lab/app:1", &ids, &config));
    }
    SUBCASE("a gzip layer: the diff id is of the uncompressed tar") {
        write_file(dir.path() / "a.tar", docker_save(tars, {tars[0], make_tar({}, true)}, "lab/app:1", &ids, &config));
        // The gzip layer above is another (empty) tar: its diff id no longer matches.
        auto r = read_archive(dir.path() / "a.tar");
        CHECK(r.error.find("diff") != std::string::npos);
        return;
    }
    auto r = read_archive(dir.path() / "a.tar");
    REQUIRE_MESSAGE(r.error.empty(), r.error);
    REQUIRE(r.images.size() == 1);
    CHECK(r.images[0].refs == std::vector<std::string>{"lab/app:1"});
    CHECK(r.images[0].config_digest == config);
    CHECK(r.images[0].diff_ids == ids);
    REQUIRE(r.layers.size() == 2);
    const auto& bottom = r.layers[0].entries;
    const auto& top = r.layers[1].entries;
    CHECK(r.layers[0].diff_id == ids[0]);
    CHECK(r.layers[1].diff_id == ids[1]);

    auto* tool = find(bottom, "/bin/tool");
    REQUIRE(tool);
    CHECK(tool->kind == EntryKind::Regular);
    CHECK((tool->mode & 07777) == 04755);
    CHECK(tool->size == 7);
    CHECK(tool->sha256 == sha256_bytes("#!tool\n", 7));
    auto* hard = find(bottom, "/bin/hard");
    REQUIRE(hard);
    CHECK(hard->sha256 == tool->sha256);
    CHECK(hard->mode == tool->mode);
    auto* big = find(bottom, "/bin/big");
    REQUIRE(big);
    CHECK(big->size == 300000);
    auto* link = find(bottom, "/bin/link");
    REQUIRE(link);
    CHECK(link->kind == EntryKind::Symlink);
    CHECK(link->target == "tool");
    auto* etc = find(bottom, "/etc");
    REQUIRE(etc);   // only implied by /etc/gone.conf: created 0755 by the engine
    CHECK(etc->kind == EntryKind::Directory);
    CHECK((etc->mode & 07777) == 0755);
    CHECK(find(bottom, std::string("/odd/name \"q\"\nx\xff")));
    CHECK(std::is_sorted(bottom.begin(), bottom.end(), [](const Entry& a, const Entry& b) { return a.path < b.path; }));

    auto* whiteout = find(top, "/etc/gone.conf");
    REQUIRE(whiteout);
    CHECK(whiteout->kind == EntryKind::Whiteout);
    CHECK_FALSE(find(top, "/etc/.wh.gone.conf"));
    auto* data = find(top, "/data");
    REQUIRE(data);
    CHECK(data->kind == EntryKind::OpaqueDirectory);
    CHECK((data->mode & 07777) == 0700);
    CHECK_FALSE(find(top, "/data/.wh..wh..opq"));
    CHECK(find(top, "/data/new.txt"));
}

TEST_CASE("a gzip-compressed layer is read as it streams, its diff id from the uncompressed bytes") {
    layerlock::test::TempDir dir;
    auto tars = two_layers();
    auto gz = make_tar({{"./f", AE_IFREG, 0644, "gzipped\n", {}, false}}, true);
    auto plain = make_tar({{"./f", AE_IFREG, 0644, "gzipped\n", {}, false}});
    write_file(dir.path() / "a.tar", docker_save({tars[0], plain}, {tars[0], gz}, "lab/gz:1"));
    auto r = read_archive(dir.path() / "a.tar");
    REQUIRE_MESSAGE(r.error.empty(), r.error);
    REQUIRE(r.layers.size() == 2);
    CHECK(r.layers[1].diff_id == digest_of(plain));
    auto* f = find(r.layers[1].entries, "/f");
    REQUIRE(f);
    CHECK(f->sha256 == sha256_bytes("gzipped\n", 8));
}

TEST_CASE("hostile archives are refused with a reason, never read outside") {
    layerlock::test::TempDir dir;
    auto tars = two_layers();
    SUBCASE("a diff id that is not the layer's") {
        write_file(dir.path() / "a.tar", docker_save(tars, tars, "lab/x:1", nullptr, nullptr, true));
        CHECK_FALSE(read_archive(dir.path() / "a.tar").error.empty());
    }
    SUBCASE("a layer entry leaving the layer") {
        auto evil = make_tar({{"../../etc/passwd", AE_IFREG, 0644, "x", {}, false}});
        write_file(dir.path() / "a.tar", docker_save({evil}, {evil}, "lab/x:1"));
        CHECK(read_archive(dir.path() / "a.tar").error.find("leaves the layer") != std::string::npos);
    }
    SUBCASE("a hard link to nothing before it") {
        auto evil = make_tar({{"./a", AE_IFREG, 0, {}, "/etc/shadow", true}});
        write_file(dir.path() / "a.tar", docker_save({evil}, {evil}, "lab/x:1"));
        CHECK(read_archive(dir.path() / "a.tar").error.find("hard link") != std::string::npos);
    }
    SUBCASE("not an archive at all") {
        write_file(dir.path() / "a.tar", std::string(10000, '\x01'));
        CHECK_FALSE(read_archive(dir.path() / "a.tar").error.empty());
    }
    SUBCASE("truncated") {
        auto whole = docker_save(tars, tars, "lab/x:1");
        write_file(dir.path() / "a.tar", whole.substr(0, whole.size() / 2));
        CHECK_FALSE(read_archive(dir.path() / "a.tar").error.empty());
    }
}

TEST_CASE("the records format round-trips every kind and any name, and rejects damage") {
    std::vector<Entry> es(4);
    es[0].path = "/bin/sh";
    es[0].kind = EntryKind::Regular;
    es[0].mode = S_IFREG | 04755;
    es[0].size = 12;
    es[0].sha256 = sha256_bytes("abc", 3);
    es[1].path = "/data";
    es[1].kind = EntryKind::OpaqueDirectory;
    es[1].mode = S_IFDIR | 0700;
    es[2].path = std::string("/l\n\"\xff", 5);
    es[2].kind = EntryKind::Symlink;
    es[2].target = "../x";
    es[2].size = 4;
    es[3].path = "/w";
    es[3].kind = EntryKind::Whiteout;
    es[3].mode = S_IFCHR;
    auto bytes = encode_records(es);
    auto back = decode_records(bytes);
    REQUIRE(back.has_value());
    REQUIRE(back->size() == es.size());
    for (std::size_t i = 0; i < es.size(); ++i) {
        CAPTURE(i);
        CHECK((*back)[i].path == es[i].path);
        CHECK((*back)[i].kind == es[i].kind);
        CHECK((*back)[i].mode == es[i].mode);
        CHECK((*back)[i].size == es[i].size);
        CHECK((*back)[i].target == es[i].target);
        if (es[i].kind == EntryKind::Regular) CHECK((*back)[i].sha256 == es[i].sha256);
    }
    for (std::size_t cut : {std::size_t{0}, std::size_t{3}, bytes.size() / 2, bytes.size() - 1}) {
        CAPTURE(cut);
        CHECK_FALSE(decode_records(std::string_view(bytes).substr(0, cut)).has_value());
    }
    CHECK_FALSE(decode_records(bytes + "x").has_value());
    CHECK_FALSE(decode_records(std::string(64, '\xff')).has_value());
}

TEST_CASE("compare_entries names every kind of difference, and ignores what was not hashed") {
    auto file = [](std::string p, std::string content, std::uint32_t mode = S_IFREG | 0755) {
        Entry e;
        e.path = std::move(p);
        e.kind = EntryKind::Regular;
        e.size = content.size();
        e.sha256 = sha256_bytes(content.data(), content.size());
        e.mode = mode;
        return e;
    };
    std::vector<Entry> records = {file("/a", "aaa"), file("/b", "bbb"), file("/c", "ccc"), file("/d", "ddd")};
    Entry l;
    l.path = "/l";
    l.kind = EntryKind::Symlink;
    l.target = "a";
    records.push_back(l);
    std::vector<Entry> host = {file("/a", "aaa"), file("/b", "bbX"), file("/c", "ccc", S_IFREG | 04755), file("/e", "e")};
    Entry l2 = l;
    l2.target = "b";
    host.push_back(l2);
    auto d = compare_entries(records, host);
    std::map<std::string, std::string> got;
    for (const auto& x : d) got[x.path] = x.what;
    CHECK(got == std::map<std::string, std::string>{
                     {"/b", "content"}, {"/c", "mode"}, {"/d", "missing"}, {"/e", "added"}, {"/l", "target"}});
    host[1].hashed = false;   // sampled out: its content is not known, its size is
    d = compare_entries(records, host);
    CHECK(std::none_of(d.begin(), d.end(), [](const Difference& x) { return x.path == "/b"; }));
    host[1] = file("/b", "bbbb");
    host[1].hashed = false;
    d = compare_entries(records, host);
    CHECK(std::any_of(d.begin(), d.end(), [](const Difference& x) { return x.path == "/b" && x.what == "size"; }));
    CHECK(compare_entries(records, records).empty());
    CHECK(describe(d).starts_with(std::to_string(d.size()) + " differ: "));
}

TEST_CASE("a layer directory checked against records: sampled and full, changes found") {
    const std::string kLayerId = digest_of("a layer directory");
    layerlock::test::TempDir dir;
    auto layer = dir.path() / "layer";
    fs::create_directories(layer / "bin");
    write_file(layer / "bin" / "tool", "tool-v1\n");
    fs::permissions(layer / "bin" / "tool", fs::perms(0755));
    for (int i = 0; i < 50; ++i) write_file(layer / ("data" + std::to_string(i)), "data " + std::to_string(i));
    auto store = Store::open((dir.path() / "db").string());
    REQUIRE(store.has_value());
    auto imported = store->import_layer(layer.string(), 1, kLayerId);
    REQUIRE_MESSAGE(imported.has_value(), imported.error().message());
    auto records = store->content_records(kLayerId);
    REQUIRE(records.has_value());
    VerifyOptions sample;
    sample.sample = 5;
    auto r = verify_layer(layer.string(), *records, sample);
    REQUIRE(r.has_value());
    CHECK(r->differences.empty());
    CHECK(r->hashed >= 1);      // the executable at least
    CHECK(r->hashed < 52);      // not every file
    write_file(layer / "bin" / "tool", "tool-v2\n");   // same size, other bytes: executables are always hashed
    write_file(layer / "added", "x");
    fs::remove(layer / "data7");
    r = verify_layer(layer.string(), *records, sample);
    REQUIRE(r.has_value());
    std::map<std::string, std::string> got;
    for (const auto& x : r->differences) got[x.path] = x.what;
    CHECK(got["/bin/tool"] == "content");
    CHECK(got["/added"] == "added");
    CHECK(got["/data7"] == "missing");
    VerifyOptions full;
    full.full = true;
    write_file(layer / "data3", "data X");   // same size, not executable: only a full check is sure to see it
    r = verify_layer(layer.string(), *records, full);
    REQUIRE(r.has_value());
    CHECK(r->hashed == 51);
    CHECK(std::any_of(r->differences.begin(), r->differences.end(),
                      [](const Difference& x) { return x.path == "/data3" && x.what == "content"; }));
}

TEST_CASE("bundles: exported, signed, verified; another key, a changed byte or a swapped signature refused") {
    layerlock::test::TempDir dir;
    auto store = Store::open((dir.path() / "ci.db").string());
    REQUIRE(store.has_value());
    Entry e;
    e.path = "/bin/app";
    e.kind = EntryKind::Regular;
    e.mode = S_IFREG | 0755;
    e.size = 3;
    e.sha256 = sha256_bytes("app", 3);
    const std::string diff_id = digest_of("layer");
    REQUIRE(store->store_content_layer(diff_id, {e}, {"archive", ""}).has_value());
    ImageRecord img;
    img.ref = "lab/app:1";
    img.config_digest = digest_of("config");
    img.diff_ids = {diff_id};
    img.origin = "archive";
    REQUIRE(store->store_image(img).has_value());

    const auto b = (dir.path() / "app.llb").string();
    auto summary = export_bundle(*store, store->images(), b);
    REQUIRE_MESSAGE(summary.has_value(), summary.error().message());
    CHECK(summary->layers == 1);
    CHECK_FALSE(export_bundle(*store, store->images(), b).has_value());   // never overwritten
    const auto key = (dir.path() / "ci.key").string(), pub = (dir.path() / "ci.pub").string();
    auto id = generate_keypair(key, pub);
    REQUIRE(id.has_value());
    CHECK((fs::status(key).permissions() & fs::perms::all) == fs::perms(0600));
    CHECK(public_key_id(pub).value() == *id);
    REQUIRE(sign_bundle(b, key, b + ".sig").has_value());
    const auto other_key = (dir.path() / "o.key").string(), other_pub = (dir.path() / "o.pub").string();
    REQUIRE(generate_keypair(other_key, other_pub).has_value());

    std::string signer;
    auto ok = open_verified_bundle(b, b + ".sig", {other_pub, pub}, &signer);
    REQUIRE_MESSAGE(ok.has_value(), ok.error().message());
    CHECK(signer == *id);
    REQUIRE(ok->layers.size() == 1);
    CHECK(ok->layers[0].diff_id == diff_id);
    REQUIRE(ok->layers[0].entries.size() == 1);
    CHECK(ok->layers[0].entries[0].sha256 == e.sha256);
    REQUIRE(ok->images.size() == 1);
    CHECK(ok->images[0].config_digest == img.config_digest);

    CHECK_FALSE(open_verified_bundle(b, b + ".sig", {other_pub}, &signer).has_value());
    CHECK_FALSE(open_verified_bundle(b, b + ".missing", {pub}, &signer).has_value());
    // Every byte position class: the tar header, bundle.json, the records.
    std::string bytes;
    {
        std::ifstream in(b, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), {});
    }
    for (std::size_t at : {std::size_t{10}, std::size_t{600}, bytes.size() / 2, bytes.size() - 2000}) {
        CAPTURE(at);
        auto changed = bytes;
        changed[at] = static_cast<char>(changed[at] ^ 0x20);
        const auto c = (dir.path() / ("c" + std::to_string(at) + ".llb")).string();
        write_file(c, changed);
        fs::copy_file(b + ".sig", c + ".sig");
        CHECK_FALSE(open_verified_bundle(c, c + ".sig", {pub}, &signer).has_value());
    }
    // A signature made by the trusted key over another bundle.
    REQUIRE(store->store_image({"lab/other:1", digest_of("c2"), "", {diff_id}, "archive", "", 0}).has_value());
    const auto b2 = (dir.path() / "two.llb").string();
    REQUIRE(export_bundle(*store, store->images(), b2).has_value());
    REQUIRE(sign_bundle(b2, key, b2 + ".sig").has_value());
    CHECK_FALSE(open_verified_bundle(b, b2 + ".sig", {pub}, &signer).has_value());
}

TEST_CASE("signed records are preferred and never replaced by unsigned ones") {
    layerlock::test::TempDir dir;
    auto store = Store::open((dir.path() / "h.db").string());
    REQUIRE(store.has_value());
    Entry e;
    e.path = "/x";
    e.kind = EntryKind::Regular;
    e.mode = S_IFREG | 0644;
    e.size = 1;
    e.sha256 = sha256_bytes("x", 1);
    const std::string id = digest_of("l");
    REQUIRE(store->store_content_layer(id, {e}, {"bundle", "abcd"}).has_value());
    Entry other = e;
    other.sha256 = sha256_bytes("y", 1);
    REQUIRE(store->store_content_layer(id, {other}, {"archive", ""}).has_value());
    RecordOrigin o;
    auto recs = store->content_records(id, &o);
    REQUIRE(recs.has_value());
    CHECK(o.signed_by == "abcd");
    REQUIRE(recs->size() == 1);
    CHECK((*recs)[0].sha256 == e.sha256);
}
