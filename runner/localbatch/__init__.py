"""The local Batch service: the Azure Batch data-plane REST API on loopback, with local nodes.

What Azurite is for Storage, this is for Batch: the unmodified azure-batch SDK talks
to it as to Azure (same paths, JSON shapes, error bodies, Shared Key auth), and tasks
run as local processes on "compute nodes" with Batch's directory layout and
`AZ_BATCH_*` environment. State lives in SQLite under the service's home directory and
survives a restart. bwf's client code never imports this package: they meet over HTTP.

Modules: `auth` (Shared Key, request dates), `errors` (Batch error bodies), `store`
(state and its persistence), `odata` ($filter parser, $select) with `filterable` (each
list's filterable properties), `conditional` (If-Match and friends), `shapes` (the
request bodies each route accepts, checked before its handler runs) with `fields` and
`specs` (reading checked bodies into stored resources), `blobs` (resource files and
output files over the Blob REST API), `nodes` (node directories and processes),
`nursery` and `spawner` (every process under a supervisor that ends its whole tree),
`containers` (container tasks with podman) and `launch` (a command line's start, in a
container or not), `scheduler` (lifecycle) with `dispatch` (which task runs where, task
slots, `runs`), `allocation` (nodes in and out of pools, reboot, scheduling),
`execution` (tasks), `node_tasks` (start, preparation and release tasks), `preemption`
(spot nodes) and `autoscaling` (formulas at their interval, samples, `cpu`), `stats`
(statistics, usage metrics), `api` (the router) with one handler group per resource
(`pools_api`, `autoscale_api`, `nodes_api`, `jobs_api`, `tasks_api`, sharing
`resources`), `files` (task and node files), `server` (HTTP), `wire`, `connections` and
`limits` (what one client may take from it), `faults` and `harsh` (switches for tests:
injected faults, and Azure's slower, harsher behaviour), `autoscale` (the autoscale
formula language), `__main__` (`python -m runner.localbatch serve`).
"""
