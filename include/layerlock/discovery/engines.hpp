// SPDX-License-Identifier: Apache-2.0
// Metadata of containerd tasks and Podman (containers/storage) containers, read
// from the files each engine keeps on the host: no engine API, no new dependency.
// Parsers take text and never throw; readers take the overlay's mount point (from
// the mount table) and read the engine's state files next to it. Engine files are
// untrusted input like any other: a missing or mistyped field leaves its member
// empty, malformed JSON is an error value.
//
//   containerd  <state>/io.containerd.runtime.v2.task/<ns>/<id>/rootfs (the mount),
//               <task dir>/config.json (OCI spec: CRI annotations), <task dir>/init.pid
//   Podman      <graphroot>/overlay/<layer>/merged (the mount),
//               <graphroot>/overlay-containers/containers.json (layer → container),
//               <graphroot>/overlay-images/images.json (image id → names),
//               <runroot>/overlay-containers/<id>/userdata/pidfile
#pragma once

#include <sys/types.h>

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "layerlock/base/result.hpp"

namespace layerlock::discovery {

// What an engine's own files say about one container; empty when not known.
struct EngineContainer {
    std::string id;
    std::string ns;             // containerd namespace; empty for other engines
    std::string name;
    std::string image;          // image reference
    std::string image_id;       // image id / digest
    pid_t pid = 0;              // init pid, 0 until the engine wrote it
    std::string k8s_pod, k8s_namespace, k8s_container;
    bool cri_o = false;         // a containers/storage container that CRI-O created (not Podman)
};

// ---- containerd ----

struct ContainerdTask {
    std::string ns;             // containerd namespace ("default", "k8s.io", "moby", ...)
    std::string id;
    std::string dir;            // the task's bundle directory (the mount point's parent)
};

// The task a ".../io.containerd.runtime.v2.task/<ns>/<id>/rootfs" mount point belongs to.
std::optional<ContainerdTask> containerd_task(std::string_view mount_point);

// The OCI runtime spec of a task (config.json): the CRI annotations
// io.kubernetes.cri.{sandbox-name,sandbox-namespace,container-name,image-name}.
// A spec without annotations (plain `ctr run`) gives an empty result, not an error.
base::Result<EngineContainer> parse_oci_spec(std::string_view json);

// A pid file's text ("1234", "1234\n"): the pid, or 0 when it holds none.
pid_t parse_pid(std::string_view text);

// The task's metadata from its bundle directory. The image reference is known only
// from the CRI annotation: containerd keeps it in its bolt database, not in a file.
base::Result<EngineContainer> read_containerd_task(const ContainerdTask& task);

// ---- Podman (containers/storage) ----

struct StorageLayer {
    std::string graph_root;     // e.g. /var/lib/containers/storage
    std::string layer;          // the container's read-write layer id
};

// The layer a "<graphroot>/overlay/<layer>/merged" mount point belongs to.
std::optional<StorageLayer> storage_layer(std::string_view mount_point);

struct StorageContainer {
    std::string id;
    std::vector<std::string> names;
    std::string image_id;       // "image"
    std::string layer;          // "layer": the read-write layer mounted at .../merged
    std::string image_name;     // libpod's / CRI-O's "metadata" JSON string: "image-name"
    // CRI-O writes its own metadata there: the pod's sandbox id ("pod-id", absent in
    // Podman's) and the container's Kubernetes name ("metadata-name").
    std::string pod_id;
    std::string metadata_name;
};

// Kubernetes names from the annotations of an OCI spec CRI-O wrote
// (<run root>/overlay-containers/<id>/userdata/config.json): io.kubernetes.pod.name,
// io.kubernetes.pod.namespace, io.kubernetes.container.name; image from
// io.kubernetes.cri-o.ImageName. Missing ones stay empty.
base::Result<EngineContainer> parse_crio_spec(std::string_view json);

// overlay-containers/containers.json
base::Result<std::vector<StorageContainer>> parse_storage_containers(std::string_view json);
// overlay-images/images.json: image id → its names (references), first name first.
base::Result<std::map<std::string, std::vector<std::string>>> parse_storage_images(std::string_view json);

// The container whose read-write layer is mounted; its pid from the run root
// (Podman's and CRI-O's default for root: /run/containers/storage). A container
// CRI-O created (its metadata names a pod) is marked cri_o and gets its Kubernetes
// names from the spec CRI-O keeps in the run root. ENOENT when no container in
// containers.json owns the layer.
base::Result<EngineContainer> read_storage_container(const StorageLayer& layer,
                                                     const std::string& run_root);

}  // namespace layerlock::discovery
