// Starts the console: loads the wasm-bindgen glue and the WebAssembly module.
// scripts/build-console fills in the content-hashed names. A separate file,
// not an inline script, so the server's Content-Security-Policy can forbid
// inline scripts.
import init from "/console/CONSOLE_JS";
init({ module_or_path: "/console/CONSOLE_WASM" });
