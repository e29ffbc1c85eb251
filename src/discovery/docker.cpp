// SPDX-License-Identifier: Apache-2.0
// Docker Engine API: the JSON of GET /containers/json and GET /containers/{id}/json
// read into DockerContainer values (Boost.JSON stays in this file), and DockerClient,
// which builds the requests and maps HTTP statuses to errors. The transport (Beast,
// Asio, deadlines) lives in unix_http.cpp. Engine output is treated as untrusted
// input: any field may be missing, null or of the wrong type, and nothing here
// throws; a missing field leaves its member empty, malformed JSON is an error value.
#include "layerlock/discovery/docker.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include <climits>
#include <cstdint>
#include <exception>

#include "unix_http.hpp"

namespace layerlock::discovery {
namespace {

namespace json = boost::json;

constexpr std::size_t kMaxIdLength = 255;

// Navigation helpers: a null pointer stands for "absent or not that type".
const json::object* object_at(const json::object* o, std::string_view key) {
    const json::value* v = o ? o->if_contains(key) : nullptr;
    return v ? v->if_object() : nullptr;
}

std::string string_at(const json::object* o, std::string_view key) {
    const json::value* v = o ? o->if_contains(key) : nullptr;
    const json::string* s = v ? v->if_string() : nullptr;
    return s ? std::string(s->data(), s->size()) : std::string();
}

bool bool_at(const json::object* o, std::string_view key) {
    const json::value* v = o ? o->if_contains(key) : nullptr;
    const bool* b = v ? v->if_bool() : nullptr;
    return b && *b;
}

// A pid in range, else 0 ("unknown").
pid_t pid_at(const json::object* o, std::string_view key) {
    const json::value* v = o ? o->if_contains(key) : nullptr;
    if (!v) return 0;
    if (const std::int64_t* i = v->if_int64()) return *i > 0 && *i <= INT_MAX ? pid_t(*i) : 0;
    if (const std::uint64_t* u = v->if_uint64()) return *u <= INT_MAX ? pid_t(*u) : 0;
    return 0;
}

std::vector<std::string> split_colons(std::string_view s) {
    std::vector<std::string> out;
    while (!s.empty()) {
        std::size_t colon = s.find(':');
        if (colon != 0) out.emplace_back(s.substr(0, colon));
        if (colon == std::string_view::npos) break;
        s.remove_prefix(colon + 1);
    }
    return out;
}

base::Result<json::value> parse_json(std::string_view text) {
    json::parse_options opt;
    opt.max_depth = 64;
    boost::system::error_code ec;
    json::value v = json::parse(text, ec, {}, opt);
    if (ec) return base::unexpected(base::Error::plain("docker: invalid JSON: " + ec.message()));
    return v;
}

void read_graph_driver(const json::object* top, DockerContainer& c) {
    const json::object* data = object_at(object_at(top, "GraphDriver"), "Data");
    c.merged_dir = string_at(data, "MergedDir");
    c.upper_dir = string_at(data, "UpperDir");
    c.lower_dirs = split_colons(string_at(data, "LowerDir"));
}

base::Result<DockerContainer> inspect_from(const json::value& v) {
    const json::object* top = v.if_object();
    if (!top) return base::unexpected(base::Error::plain("docker inspect: not a JSON object"));
    DockerContainer c;
    c.id = string_at(top, "Id");
    if (c.id.empty()) return base::unexpected(base::Error::plain("docker inspect: no Id"));
    c.name = string_at(top, "Name");
    if (!c.name.empty() && c.name.front() == '/') c.name.erase(0, 1);
    c.image = string_at(object_at(top, "Config"), "Image");
    c.image_id = string_at(top, "Image");
    const json::object* state = object_at(top, "State");
    c.pid = pid_at(state, "Pid");
    c.running = bool_at(state, "Running");
    read_graph_driver(top, c);
    return c;
}

base::Result<std::vector<std::string>> list_from(const json::value& v) {
    const json::array* arr = v.if_array();
    if (!arr) return base::unexpected(base::Error::plain("docker list: not a JSON array"));
    std::vector<std::string> ids;
    for (const json::value& entry : *arr) {
        std::string id = string_at(entry.if_object(), "Id");
        if (!id.empty()) ids.push_back(std::move(id));
    }
    return ids;
}

// Ids and names travel in the request target: only what Docker itself allows.
bool is_safe_id(std::string_view id) {
    if (id.empty() || id.size() > kMaxIdLength || id == "." || id == "..") return false;
    for (char c : id) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '.';
        if (!ok) return false;
    }
    return true;
}

bool is_safe_target(std::string_view t) {
    if (t.empty() || t.front() != '/') return false;
    for (char c : t)
        if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return false;
    return true;
}

// The engine's own words for a failed request ({"message": "..."}), if any.
std::string engine_message(std::string_view body) noexcept {
    try {
        boost::system::error_code ec;
        json::value v = json::parse(body, ec);
        return ec ? std::string() : string_at(v.if_object(), "message");
    } catch (const std::exception&) {
        return {};
    }
}

base::Error status_error(const std::string& target, const detail::HttpResponse& r) {
    std::string context = "docker GET " + target + ": HTTP " + std::to_string(r.status);
    std::string message = engine_message(r.body);
    if (!message.empty()) context += ": " + message;
    auto code = r.status == 404 ? std::errc::no_such_file_or_directory : std::errc::io_error;
    return {std::make_error_code(code), std::move(context)};
}

}  // namespace

base::Result<DockerContainer> parse_inspect(std::string_view json) {
    try {
        auto v = parse_json(json);
        if (!v) return base::unexpected(v.error());
        return inspect_from(*v);
    } catch (const std::exception& e) {
        return base::unexpected(base::Error::plain(std::string("docker inspect: ") + e.what()));
    }
}

base::Result<std::vector<std::string>> parse_list(std::string_view json) {
    try {
        auto v = parse_json(json);
        if (!v) return base::unexpected(v.error());
        return list_from(*v);
    } catch (const std::exception& e) {
        return base::unexpected(base::Error::plain(std::string("docker list: ") + e.what()));
    }
}

DockerClient::DockerClient(std::string socket_path, std::chrono::milliseconds timeout)
    : socket_path_(std::move(socket_path)), timeout_(timeout) {}

base::Result<std::string> DockerClient::get(const std::string& target) {
    if (!is_safe_target(target))
        return base::unexpected(base::Error::invalid("docker GET: bad request target"));
    auto r = detail::http_get_unix(socket_path_, target, timeout_);
    if (!r) return base::unexpected(r.error());
    if (r->status != 200) return base::unexpected(status_error(target, *r));
    return std::move(r->body);
}

base::Result<void> DockerClient::stop(const std::string& id, int grace_seconds) {
    const std::string target = "/containers/" + id + "/stop?t=" + std::to_string(grace_seconds);
    if (!is_safe_target(target)) return base::unexpected(base::Error::invalid("docker stop: bad container id"));
    // The engine answers when the container has stopped: allow the grace period.
    auto r = detail::http_post_unix(socket_path_, target, timeout_ + std::chrono::seconds(grace_seconds + 5));
    if (!r) return base::unexpected(r.error());
    if (r->status != 204 && r->status != 304) return base::unexpected(status_error(target, *r));
    return {};
}

base::Result<void> DockerClient::save_image(const std::string& name,
                                            const std::function<bool(const char*, std::size_t)>& on_data) {
    const std::string target = "/images/" + name + "/get";
    if (name.empty() || name.find('?') != std::string::npos || name.find('#') != std::string::npos ||
        name.find("..") != std::string::npos || !is_safe_target(target))
        return base::unexpected(base::Error::invalid("docker image export: bad image name"));
    std::string error_body;
    auto status = detail::http_get_stream_unix(socket_path_, target, std::max(timeout_, std::chrono::milliseconds(30000)),
                                               on_data, &error_body);
    if (!status) return base::unexpected(status.error());
    if (*status != 200) return base::unexpected(status_error(target, detail::HttpResponse{*status, error_body}));
    return {};
}

base::Result<std::vector<std::string>> DockerClient::list_running() {
    auto body = get("/containers/json");
    if (!body) return base::unexpected(body.error());
    return parse_list(*body);
}

base::Result<DockerContainer> DockerClient::inspect(const std::string& id) {
    if (!is_safe_id(id))
        return base::unexpected(base::Error::invalid("docker inspect: bad container id"));
    auto body = get("/containers/" + id + "/json");
    if (!body) return base::unexpected(body.error());
    return parse_inspect(*body);
}

}  // namespace layerlock::discovery
