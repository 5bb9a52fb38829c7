set terminal pngcairo size 1000,600 noenhanced font ',10'
set output 'overhead_vs_interval.png'
set logscale x
set xlabel 'checkpoint interval (ms)'
set ylabel 'memstress throughput lost (%)'
set title 'Runtime overhead vs checkpoint interval'
set key outside right
set grid
plot 'overhead_vs_interval.dat' index 0 using 1:2 with linespoints lc rgb '#d62728' pt 7 dt 1 lw 1.5 title 'cow 1vCPU dirty=100', \
  'overhead_vs_interval.dat' index 1 using 1:2 with linespoints lc rgb '#d62728' pt 5 dt 1 lw 1.5 title 'cow 2vCPU dirty=100', \
  'overhead_vs_interval.dat' index 2 using 1:2 with linespoints lc rgb '#2ca02c' pt 7 dt 1 lw 1.5 title 'hybrid 1vCPU dirty=100', \
  'overhead_vs_interval.dat' index 3 using 1:2 with linespoints lc rgb '#2ca02c' pt 5 dt 1 lw 1.5 title 'hybrid 2vCPU dirty=100', \
  'overhead_vs_interval.dat' index 4 using 1:2 with linespoints lc rgb '#9467bd' pt 7 dt 1 lw 1.5 title 'precopy 1vCPU dirty=100', \
  'overhead_vs_interval.dat' index 5 using 1:2 with linespoints lc rgb '#9467bd' pt 5 dt 1 lw 1.5 title 'precopy 2vCPU dirty=100', \
  'overhead_vs_interval.dat' index 6 using 1:2 with linespoints lc rgb '#1f77b4' pt 7 dt 1 lw 1.5 title 'stop-and-copy 1vCPU dirty=100', \
  'overhead_vs_interval.dat' index 7 using 1:2 with linespoints lc rgb '#1f77b4' pt 5 dt 1 lw 1.5 title 'stop-and-copy 2vCPU dirty=100'
