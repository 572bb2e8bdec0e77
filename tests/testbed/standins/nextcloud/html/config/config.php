<?php
// Stand-in configuration (tests only): occ compares its owner with the
// user running it, like the real console.php.
$CONFIG = [
  'installed' => true,
  'version' => '30.0.4.1',
  'datadirectory' => '/var/www/html/data',
];
