//! The HTTP edge shared by the HTTP functions: strict JSON bodies, problem documents, bearer tokens, routing.
