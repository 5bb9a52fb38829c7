set terminal pngcairo size 1000,600 noenhanced font ',10'
set output 'net_latency_cdf.png'
set logscale x
set xlabel 'request latency (ms), client send → reply'
set ylabel 'fraction of requests'
set yrange [0:1]
set title 'kvd request latency CDF, external synchrony on (solid) and off (dashed)'
set key bottom right
set grid
plot 'net-cdf/256M-2v-hybrid-1ms-d100-s10_90-eadr.dat' using ($2/1000.0):1 with lines lw 2 dt 1 lc rgb '#1f77b4' title 'hybrid 2vCPU 1ms dirty=100, sync on', \
  'net-cdf/256M-2v-hybrid-1ms-d100-s10_90-eadr.dat' using ($3/1000.0):1 with lines lw 2 dt 2 lc rgb '#1f77b4' title 'hybrid 2vCPU 1ms dirty=100, sync off', \
  'net-cdf/256M-2v-hybrid-10ms-d100-s10_90-eadr.dat' using ($2/1000.0):1 with lines lw 2 dt 1 lc rgb '#d62728' title 'hybrid 2vCPU 10ms dirty=100, sync on', \
  'net-cdf/256M-2v-hybrid-10ms-d100-s10_90-eadr.dat' using ($3/1000.0):1 with lines lw 2 dt 2 lc rgb '#d62728' title 'hybrid 2vCPU 10ms dirty=100, sync off'
