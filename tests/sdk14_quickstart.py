"""Run by tests/test_localbatch_sdk14.py inside a virtual environment with azure-batch 14.x
(`BatchServiceClient`, msrest): the Azure quickstart's steps against the local service.

Usage: python sdk14_quickstart.py URL ACCOUNT KEY  -> prints "stdout: <text>" per task.
"""

import sys
import time

import azure.batch.models as batchmodels
from azure.batch import BatchServiceClient
from azure.batch.batch_auth import SharedKeyCredentials


def main() -> None:
    url, account, key = sys.argv[1:4]
    client = BatchServiceClient(SharedKeyCredentials(account, key), batch_url=url)
    pool_id, job_id = "sdk14-pool", "sdk14-job"
    client.pool.add(
        batchmodels.PoolAddParameter(
            id=pool_id,
            virtual_machine_configuration=batchmodels.VirtualMachineConfiguration(
                image_reference=batchmodels.ImageReference(
                    publisher="canonical",
                    offer="0001-com-ubuntu-server-jammy",
                    sku="22_04-lts",
                    version="latest",
                ),
                node_agent_sku_id="batch.node.ubuntu 22.04",
            ),
            vm_size="STANDARD_D2S_V3",
            target_dedicated_nodes=2,
        )
    )
    client.job.add(
        batchmodels.JobAddParameter(
            id=job_id, pool_info=batchmodels.PoolInformation(pool_id=pool_id)
        )
    )
    tasks = [
        batchmodels.TaskAddParameter(
            id=f"Task{i}", command_line=f"/bin/bash -c 'echo quickstart {i}'"
        )
        for i in range(3)
    ]
    client.task.add_collection(job_id, tasks)
    deadline = time.time() + 60
    while True:
        states = [t.state for t in client.task.list(job_id)]
        if all(s == batchmodels.TaskState.completed for s in states):
            break
        if time.time() > deadline:
            raise SystemExit(f"timed out: {states}")
        time.sleep(0.2)
    for task in client.task.list(job_id):
        stream = client.file.get_from_task(job_id, task.id, "stdout.txt")
        text = b"".join(stream).decode()
        print(f"stdout: {task.id} {task.execution_info.exit_code} {text.strip()}")
    print("pool exists:", client.pool.exists(pool_id))
    client.job.delete(job_id)
    client.pool.delete(pool_id)


if __name__ == "__main__":
    main()
