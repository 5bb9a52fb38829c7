set terminal pngcairo size 1000,600 noenhanced font ',10'
set output 'pause_vs_dirty.png'
set logscale x
set logscale y
set xlabel 'pages dirtied per epoch (measured p50)'
set ylabel 'stop-the-world pause (us)'
set title 'Checkpoint pause vs dirty pages (PVM nested host: each exit ~25 us)'
set key top left
set grid
plot 'pause_vs_dirty.dat' index 0 using 1:2:2:3 with yerrorbars lc rgb '#d62728' pt 7 ps 1.3 title 'cow 1vCPU (p50, bar to p99)', \
  'pause_vs_dirty.dat' index 1 using 1:2:2:3 with yerrorbars lc rgb '#d62728' pt 5 ps 1.3 title 'cow 2vCPU (p50, bar to p99)', \
  'pause_vs_dirty.dat' index 2 using 1:2:2:3 with yerrorbars lc rgb '#2ca02c' pt 7 ps 1.3 title 'hybrid 1vCPU (p50, bar to p99)', \
  'pause_vs_dirty.dat' index 3 using 1:2:2:3 with yerrorbars lc rgb '#2ca02c' pt 5 ps 1.3 title 'hybrid 2vCPU (p50, bar to p99)', \
  'pause_vs_dirty.dat' index 4 using 1:2:2:3 with yerrorbars lc rgb '#9467bd' pt 7 ps 1.3 title 'precopy 1vCPU (p50, bar to p99)', \
  'pause_vs_dirty.dat' index 5 using 1:2:2:3 with yerrorbars lc rgb '#9467bd' pt 5 ps 1.3 title 'precopy 2vCPU (p50, bar to p99)', \
  'pause_vs_dirty.dat' index 6 using 1:2:2:3 with yerrorbars lc rgb '#1f77b4' pt 7 ps 1.3 title 'stop-and-copy 1vCPU (p50, bar to p99)', \
  'pause_vs_dirty.dat' index 7 using 1:2:2:3 with yerrorbars lc rgb '#1f77b4' pt 5 ps 1.3 title 'stop-and-copy 2vCPU (p50, bar to p99)'
