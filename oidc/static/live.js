// The login page moves on by itself: the server says when the platform session is over.
(function () {
  var el = document.getElementById('live');
  if (!el || !window.EventSource) { return; }
  var es = new EventSource(el.getAttribute('data-events'));
  es.addEventListener('done', function () { es.close(); window.location.reload(); });
})();
