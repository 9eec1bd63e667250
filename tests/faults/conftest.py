"""The fault suite: venues and the manager in processes of their own, killed with SIGKILL
and restarted mid-stream; every test counts orders and data lost or duplicated, at the
venue and at the manager, and asserts zero."""
