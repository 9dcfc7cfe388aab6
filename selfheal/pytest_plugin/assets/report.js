/* selfheal's additions to pytest-html's report (inlined by selfheal/pytest_plugin/html.py):
   results grouped by stage then table, a search box and a stage filter, links to tickets, and
   the environment table folded away so the overview is on the first screen. pytest-html draws a
   new results table on every click, so the grouping is applied to each new table. */
(function () {
  'use strict'

  const cellText = (row, selector) => (row.querySelector(selector)?.textContent || '').trim()
  const rank = (row) => Number(row.querySelector('.col-stage')?.dataset.rank ?? 99)
  const label = (row) =>
    [cellText(row, '.col-stage'), cellText(row, '.col-table')].filter(Boolean).join(' › ')

  function tickets () {
    const node = document.getElementById('selfheal-tickets')
    return node ? JSON.parse(node.textContent) : {}
  }

  function groupHeader (title, rows, columns) {
    const failed = rows.filter((row) => row.classList.contains('failed')).length
    const body = document.createElement('tbody')
    body.className = 'selfheal-group'
    const cell = document.createElement('th')
    cell.colSpan = columns
    cell.textContent = `${title} (${rows.length} check${rows.length === 1 ? '' : 's'}` +
      (failed ? `, ${failed} failed)` : ')')
    body.appendChild(document.createElement('tr')).appendChild(cell)
    return body
  }

  function group (table) {
    const rows = [...table.querySelectorAll('tbody.results-table-row')]
    rows.sort((a, b) => rank(a) - rank(b) || cellText(a, '.col-table').localeCompare(cellText(b, '.col-table')))
    const columns = table.querySelectorAll('thead th').length
    const groups = new Map()
    rows.forEach((row) => groups.set(label(row), [...(groups.get(label(row)) || []), row]))
    groups.forEach((members, title) => {
      table.appendChild(groupHeader(title || 'other', members, columns))
      members.forEach((row) => table.appendChild(row))
    })
  }

  function linkTickets (table, known) {
    table.querySelectorAll('a.selfheal-ticket[data-fingerprint]').forEach((link) => {
      const path = known[link.dataset.fingerprint]
      if (path) {
        link.href = path
        link.hidden = false
      }
    })
  }

  function filter () {
    const table = document.getElementById('results-table')
    const query = (document.getElementById('selfheal-search')?.value || '').trim().toLowerCase()
    const stage = document.getElementById('selfheal-stage-filter')?.value || ''
    let header = null
    let shown = 0
    const closeGroup = () => header?.classList.toggle('selfheal-hidden', shown === 0)
    for (const body of table.tBodies) {
      if (body.classList.contains('selfheal-group')) {
        closeGroup()
        header = body
        shown = 0
      } else if (body.classList.contains('results-table-row')) {
        const match = (!stage || cellText(body, '.col-stage') === stage) &&
          (!query || body.textContent.toLowerCase().includes(query))
        body.classList.toggle('selfheal-hidden', !match)
        shown += match ? 1 : 0
      }
    }
    closeGroup()
  }

  function enhance (known) {
    const table = document.getElementById('results-table')
    if (!table || table.dataset.selfheal) {
      return
    }
    table.dataset.selfheal = 'grouped'
    group(table)
    linkTickets(table, known)
    filter()
  }

  document.addEventListener('DOMContentLoaded', () => {
    document.getElementById('environment')?.classList.add('hidden')
    document.getElementById('environment-header')?.classList.add('collapsed')
    const known = tickets()
    enhance(known)
    new MutationObserver(() => enhance(known)).observe(document.body, { childList: true })
    document.getElementById('selfheal-search')?.addEventListener('input', filter)
    document.getElementById('selfheal-stage-filter')?.addEventListener('change', filter)
  })
})()
