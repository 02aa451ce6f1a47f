// Types, server protocol and client generated at build time from `openapi.yaml`, a symbolic link
// to the normative contract `schemas/openapi.yaml`: the code cannot drift from the document.
