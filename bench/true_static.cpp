// SPDX-License-Identifier: Apache-2.0
// The small static binary whose fork+exec+exit the exec benchmark times.
int main() { return 0; }
