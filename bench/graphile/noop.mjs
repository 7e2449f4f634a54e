// graphile-worker running the no-op job benchmark SalesOS runs (bench/jobs.sh):
// enqueue N jobs in batches of 1000 with graphile_worker.add_jobs, then drain them with a
// worker of the given concurrency, unbatched (one job per task call), and report jobs/s.
import { Logger, run, runMigrations } from "graphile-worker";
import pg from "pg";

const connectionString = process.env.DATABASE_URL;
const n = Number(process.env.JOBS || 100000);
const concurrency = Number(process.env.CONCURRENCY || 24);

await runMigrations({ connectionString, logger: new Logger(() => () => {}) });
const pool = new pg.Pool({ connectionString });
await pool.query("delete from graphile_worker._private_jobs");
const t0 = performance.now();
for (let i = 0; i < n; i += 1000) {
  const size = Math.min(1000, n - i);
  await pool.query(
    "select graphile_worker.add_jobs(array(select ('noop', '{}'::json, null, null, null, null, null, null)::graphile_worker.job_spec from generate_series(1, $1)))",
    [size],
  );
}
const enqueueS = (performance.now() - t0) / 1000;

let done = 0;
let finish;
const finished = new Promise((resolve) => (finish = resolve));
const t1 = performance.now();
const runner = await run({
  connectionString,
  concurrency,
  noHandleSignals: true,
  // Quiet, as in graphile-worker's own performance test: logging every job costs more than the job.
  logger: new Logger(() => (level, message) => {
    if (level === "error") console.error(message);
  }),
  pollInterval: 1000,
  taskList: {
    noop: async () => {
      done += 1;
      if (done === n) finish();
    },
  },
});
await finished;
const drainS = (performance.now() - t1) / 1000;
await runner.stop();
await pool.end();
console.log(JSON.stringify({
  system: "graphile-worker " + (await import("graphile-worker/package.json", { with: { type: "json" } })).default.version,
  jobs: n,
  concurrency,
  enqueue_jobs_per_s: Math.round(n / enqueueS),
  drain_jobs_per_s: Math.round(n / drainS),
}));
