// SPDX-License-Identifier: Apache-2.0
// The library ll_test_app is linked against, as the test image holds it.
extern "C" const char* ll_test_dep_message() { return "image-dep"; }
