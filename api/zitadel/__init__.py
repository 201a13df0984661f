"""Zitadel's wire: the admin API's email provider methods as Zitadel serves them.

A client generated from Zitadel's own `admin.proto` works against mailprobe unchanged, over
native gRPC (grpc_server), gRPC-web (grpc_web) or Zitadel's synchronous JSON under /admin/v1.
The protos are in proto/ at the top of the repository; pb/ holds their generated stubs.
"""
