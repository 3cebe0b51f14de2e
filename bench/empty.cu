// The kernel bench_remoting launches to measure what a launch costs: it
// does nothing, so what is measured is vcuda's path alone.
extern "C" __global__ void vcuda_bench_empty(void)
{
}
