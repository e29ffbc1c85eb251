// SPDX-License-Identifier: Apache-2.0
// Baseline bundles: the records of an image's layers, made once (in CI, from the
// image archive) and shipped to every host with the deploy.
//
// A bundle is a tar (written with libarchive, deterministic: fixed order, times and
// owners) holding
//   bundle.json              format, images (references, config and manifest
//                            digests, diff ids) and, per layer, its diff id, counts
//                            and the SHA-256 of its records file
//   layers/<hex>.records     one layer's entries, binary (encode_records)
// A signature is a separate file (BUNDLE.sig, JSON): the Ed25519 signature
// (OpenSSL) of "layerlock-baseline-bundle-v1\n" + the hex SHA-256 of the bundle's
// bytes, and the id of the key (hex SHA-256 of its raw 32-byte public key). Keys
// are PEM files (PKCS#8 private, SubjectPublicKeyInfo public).
//
// Import reads the bundle once into memory, checks the signature over exactly
// those bytes against the trusted public keys, then every records file against the
// digest bundle.json gives, before anything is stored.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "layerlock/base/result.hpp"
#include "layerlock/baseline/store.hpp"

namespace layerlock::baseline {

struct BundleLayer {
    std::string diff_id;
    std::vector<Entry> entries;
};

struct Bundle {
    std::vector<ImageRecord> images;     // origin, signed_by and added_at left empty
    std::vector<BundleLayer> layers;
    std::string sha256;                  // hex, of the bundle file's bytes
};

struct BundleSummary {
    std::size_t images = 0, layers = 0;
    std::uint64_t entries = 0, bytes = 0;   // bytes: the bundle file's size
};

// Writes a bundle of `images` (their layers' records from `store`) to `path`,
// which must not exist (never overwritten; created 0644: a bundle is not secret).
base::Result<BundleSummary> export_bundle(Store& store, const std::vector<ImageRecord>& images,
                                          const std::string& path);

// Creates an Ed25519 key pair: `private_path` (0600) and `public_path` (0644); neither may exist.
base::Result<std::string> generate_keypair(const std::string& private_path, const std::string& public_path);
// The id of a public key file (hex SHA-256 of the raw key).
base::Result<std::string> public_key_id(const std::string& public_path);
// Signs the bundle at `bundle` with the private key; writes `sig_path` (not
// overwritten). Returns the key's id.
base::Result<std::string> sign_bundle(const std::string& bundle, const std::string& private_path,
                                      const std::string& sig_path);

// Reads the bundle at `path` and checks its signature `sig_path` with each of the
// `trusted` public key files until one verifies; then decodes it. `signed_by` is
// set to the verifying key's id. Every failure names what failed (no trusted key,
// a signature that does not verify, a records file whose digest differs, ...).
base::Result<Bundle> open_verified_bundle(const std::string& path, const std::string& sig_path,
                                          const std::vector<std::string>& trusted, std::string* signed_by);

// The records file format (exposed for tests).
std::string encode_records(const std::vector<Entry>& entries);
base::Result<std::vector<Entry>> decode_records(std::string_view data);

}  // namespace layerlock::baseline
