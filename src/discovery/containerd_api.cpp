// SPDX-License-Identifier: Apache-2.0
// containerd's gRPC API (see containerd_api.hpp). The generated stubs come from
// proto/containerd_{containers,images}.proto, containerd's own names and field
// numbers. Every call carries the namespace in the "containerd-namespace" header, as
// containerd's clients do, and a deadline.
#include "layerlock/discovery/containerd_api.hpp"

#include <grpcpp/grpcpp.h>

#include <map>
#include <mutex>

#include "containerd_containers.grpc.pb.h"
#include "containerd_images.grpc.pb.h"

namespace layerlock::discovery {
namespace {

constexpr std::string_view kTaskDir = "/io.containerd.runtime.v2.task/";

base::Error rpc_error(const std::string& what, const grpc::Status& s) {
    int err = s.error_code() == grpc::StatusCode::NOT_FOUND         ? ENOENT
              : s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ? ETIMEDOUT
              : s.error_code() == grpc::StatusCode::UNAVAILABLE       ? ECONNREFUSED
                                                                      : EIO;
    return base::Error::from_errno(what + ": " + s.error_message(), err);
}

}  // namespace

struct ContainerdApi::Impl {
    std::chrono::milliseconds timeout;
    std::mutex mu;
    std::map<std::string, std::shared_ptr<grpc::Channel>> channels;  // by socket path

    std::shared_ptr<grpc::Channel> channel(const std::string& socket) {
        std::lock_guard lock(mu);
        auto& ch = channels[socket];
        if (!ch) ch = grpc::CreateChannel("unix://" + socket, grpc::InsecureChannelCredentials());
        return ch;
    }
    void prepare(grpc::ClientContext& ctx, const std::string& ns) const {
        ctx.set_deadline(std::chrono::system_clock::now() + timeout);
        ctx.AddMetadata("containerd-namespace", ns);
    }
    template <typename Service, typename Request, typename Response>
    base::Result<Response> get(const std::string& socket, const std::string& ns, const Request& req,
                               const std::string& what);
};

ContainerdApi::ContainerdApi(std::chrono::milliseconds timeout) : impl_(std::make_unique<Impl>()) {
    impl_->timeout = timeout;
}

ContainerdApi::~ContainerdApi() = default;

// One unary Get of a containerd service in namespace `ns`: the response, or the
// call's error described as `what`.
template <typename Service, typename Request, typename Response>
base::Result<Response> ContainerdApi::Impl::get(const std::string& socket, const std::string& ns,
                                                const Request& req, const std::string& what) {
    auto stub = Service::NewStub(channel(socket));
    grpc::ClientContext ctx;
    prepare(ctx, ns);
    Response resp;
    grpc::Status s = stub->Get(&ctx, req, &resp);
    if (!s.ok()) return base::unexpected(rpc_error(what, s));
    return resp;
}

base::Result<std::string> ContainerdApi::image_digest(const std::string& socket, const std::string& ns,
                                                      const std::string& name) {
    namespace images = containerd::services::images::v1;
    images::GetImageRequest req;
    req.set_name(name);
    auto resp = impl_->get<images::Images, images::GetImageRequest, images::GetImageResponse>(
        socket, ns, req, "containerd image " + name);
    if (!resp) return base::unexpected(resp.error());
    return resp->image().target().digest();
}

base::Result<ContainerdImage> ContainerdApi::image_of(const std::string& socket, const std::string& ns,
                                                      const std::string& id) {
    namespace containers = containerd::services::containers::v1;
    containers::GetContainerRequest req;
    req.set_id(id);
    auto resp = impl_->get<containers::Containers, containers::GetContainerRequest, containers::GetContainerResponse>(
        socket, ns, req, "containerd container " + id);
    if (!resp) return base::unexpected(resp.error());
    ContainerdImage out;
    out.reference = resp->container().image();
    if (!out.reference.empty())
        if (auto d = image_digest(socket, ns, out.reference)) out.digest = *d;  // image removed since: no digest
    return out;
}

std::string containerd_socket_for(const std::string& task_dir) {
    std::size_t at = task_dir.rfind(kTaskDir);
    if (at == std::string::npos || at == 0) return {};
    return task_dir.substr(0, at) + "/containerd.sock";
}

}  // namespace layerlock::discovery
