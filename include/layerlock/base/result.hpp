// SPDX-License-Identifier: Apache-2.0
// Errors as values. Result<T> has the names of std::expected (has_value, value,
// error, operator*, operator->) so that moving to C++23 is a rename. Error carries
// an error_code (errno mapped once, at the OS edge) and a human context string.
#pragma once

#include <cerrno>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace layerlock::base {

struct Error {
    std::error_code code;
    std::string context;

    // "context: strerror" or just the context for non-errno errors.
    std::string message() const {
        if (!code) return context;
        return context.empty() ? code.message() : context + ": " + code.message();
    }
    static Error from_errno(std::string context, int err = errno) {
        return {std::error_code(err, std::generic_category()), std::move(context)};
    }
    static Error invalid(std::string context) {
        return {std::make_error_code(std::errc::invalid_argument), std::move(context)};
    }
    // An error whose context already says everything (parse errors, config errors).
    static Error plain(std::string context) { return {{}, std::move(context)}; }
};

template <typename E>
struct Unexpected {
    E error;
};
inline Unexpected<Error> unexpected(Error e) { return {std::move(e)}; }

template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}
    Result(Unexpected<Error> e) : v_(std::in_place_index<1>, std::move(e.error)) {}

    bool has_value() const noexcept { return v_.index() == 0; }
    explicit operator bool() const noexcept { return has_value(); }
    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    const Error& error() const { return std::get<1>(v_); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    Result() = default;
    Result(Unexpected<Error> e) : err_(std::move(e.error)), ok_(false) {}
    bool has_value() const noexcept { return ok_; }
    explicit operator bool() const noexcept { return ok_; }
    const Error& error() const { return err_; }

private:
    Error err_;
    bool ok_ = true;
};

}  // namespace layerlock::base
